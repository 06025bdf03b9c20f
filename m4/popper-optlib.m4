dnl POPPER_OPTIONAL(NAME, HELP, PROBE-YES)
dnl  Shared shape of every --with-NAME[=yes|no|auto] switch: "auto" (the
dnl  default) enables the library when found; "yes" makes a missing library
dnl  an error; "no" leaves it out.  PROBE-YES must set popper_found=yes.
AC_DEFUN([POPPER_OPTIONAL], [
  AC_ARG_WITH([$1], [AS_HELP_STRING([--with-$1@<:@=yes|no|auto@:>@], [$2 @<:@auto@:>@])],
    [], [with_$1=auto])
  popper_have_$1=no
  AS_IF([test "x$with_$1" != xno], [
    popper_found=no
    $3
    AS_IF([test "x$popper_found" = xyes], [popper_have_$1=yes],
      [AS_IF([test "x$with_$1" = xyes], [AC_MSG_ERROR([--with-$1 given but $1 was not found])])])
  ])
  AS_IF([test "x$popper_have_$1" = xyes],
    [AC_DEFINE(m4_toupper([HAVE_$1]), [1], [Define if $1 is used])])
  AM_CONDITIONAL(m4_toupper([HAVE_$1]), [test "x$popper_have_$1" = xyes])
])
