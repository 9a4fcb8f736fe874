# Sourced by .ci/run (bash): tools for tests/auth_sign.rs, auth_mtls.rs and
# auth_proxy.rs. Installs only; each test makes its own keys and
# certificates with openssl and starts its own nginx/tinyproxy on a free
# 127.0.0.1 port, so nothing runs here and CLEANUP is left alone.
# Idempotent and quick when everything is already installed.

auth_sign_need=()
command -v openssl >/dev/null 2>&1 || auth_sign_need+=(openssl)
[ -x /usr/sbin/nginx ] || auth_sign_need+=(nginx)
[ -x /usr/bin/tinyproxy ] || auth_sign_need+=(tinyproxy)
if [ ${#auth_sign_need[@]} -gt 0 ]; then
  apt-get update -qq
  # Packaged services must not start on install (policy-rc.d 101).
  auth_sign_rc=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    auth_sign_rc=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${auth_sign_need[@]}" >/dev/null
  if [ "$auth_sign_rc" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
  unset auth_sign_rc
fi

if ! python3 -c "import jwt, cryptography" >/dev/null 2>&1; then
  python3 -m pip install -q --disable-pip-version-check cryptography PyJWT 2>&1 \
    | grep -v "WARNING: Running pip as" || true
fi

export RBK_NGINX=/usr/sbin/nginx
export RBK_TINYPROXY=/usr/bin/tinyproxy
unset auth_sign_need
