dnl Debian's libgdbm-dev ships no .pc file: probe header and library.
AC_DEFUN([POPPER_WITH_GDBM], [POPPER_OPTIONAL([gdbm], [GDBM for the user/secret database], [
  AC_CHECK_HEADER([gdbm.h],
    [AC_CHECK_LIB([gdbm], [gdbm_open], [popper_found=yes; GDBM_LIBS=-lgdbm])])
  AC_SUBST([GDBM_LIBS])
])])
