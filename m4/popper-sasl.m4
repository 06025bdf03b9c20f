AC_DEFUN([POPPER_WITH_SASL], [POPPER_OPTIONAL([sasl], [Cyrus SASL for AUTH], [
  PKG_CHECK_MODULES([SASL], [libsasl2], [popper_found=yes], [:])
])])
