AC_DEFUN([POPPER_WITH_KRB5], [POPPER_OPTIONAL([krb5], [MIT Kerberos 5 and GSSAPI], [
  PKG_CHECK_MODULES([KRB5], [krb5 krb5-gssapi], [popper_found=yes], [:])
])])
