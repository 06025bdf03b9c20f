AC_DEFUN([POPPER_WITH_OPENSSL], [POPPER_OPTIONAL([openssl], [OpenSSL (APOP digests, later TLS)], [
  PKG_CHECK_MODULES([OPENSSL], [libssl libcrypto], [popper_found=yes], [:])
])])
