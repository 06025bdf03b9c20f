dnl libseccomp (Debian: libseccomp-dev) for the pre-auth process's system
dnl call filter (server/sandbox.c).  --without-seccomp builds without it;
dnl popper then logs at start that the filter is missing.
AC_DEFUN([POPPER_WITH_SECCOMP], [POPPER_OPTIONAL([seccomp], [libseccomp for the pre-auth system call filter], [
  AC_CHECK_HEADER([seccomp.h],
    [AC_CHECK_LIB([seccomp], [seccomp_init], [popper_found=yes; SECCOMP_LIBS=-lseccomp])])
  AC_SUBST([SECCOMP_LIBS])
])])
