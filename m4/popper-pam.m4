AC_DEFUN([POPPER_WITH_PAM], [POPPER_OPTIONAL([pam], [Linux-PAM for USER/PASS], [
  PKG_CHECK_MODULES([PAM], [pam], [popper_found=yes], [
    AC_CHECK_HEADER([security/pam_appl.h],
      [AC_CHECK_LIB([pam], [pam_start], [popper_found=yes; PAM_LIBS=-lpam])])])
])])
