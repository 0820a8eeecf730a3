#!/usr/bin/env bash
# The seeds' web app as a rootfs tar: busybox httpd with a CGI at / printing the hostname and the client address.
set -euo pipefail
out="${1:?usage: make-webapp-rootfs.sh OUTPUT.tar}"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir"/{bin,etc,www/cgi-bin,tmp,proc,sys,dev,root}
cp /usr/bin/busybox "$dir/bin/busybox"
for a in sh httpd ls cat echo hostname sleep env id ps nc wget true false printf ip mkdir rm touch grep head tail wc seq kill date uname; do
  ln -s busybox "$dir/bin/$a"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$dir/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$dir/etc/group"
cat >"$dir/www/cgi-bin/index.cgi" <<'CGI'
#!/bin/sh
# busybox httpd reports IPv4 peers of its dual-stack socket as [::ffff:a.b.c.d]; print the plain address.
addr="${REMOTE_ADDR#[}"; addr="${addr%]}"; addr="${addr#::ffff:}"
printf 'Content-Type: text/html\r\n\r\n'
echo "<b>Hostname:</b> $(hostname)<br/>"
echo "<b>Remote IP:</b> $addr"
CGI
chmod 755 "$dir/www/cgi-bin/index.cgi"
chmod 1777 "$dir/tmp"
tar -C "$dir" -cf "$out" .
