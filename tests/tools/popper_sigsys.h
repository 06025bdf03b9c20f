/* popper-sigsys: the prototype of popper's main under its new name
 * (included on the command line when server/main.c is built for it). */
int popper_main(int argc, char **argv);
