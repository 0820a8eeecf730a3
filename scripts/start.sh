#!/usr/bin/env bash
# Sets everything up, starts the engine in the background on /run/berth/berth.sock and shows the seed scenario.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/install-deps.sh
./berth --help >/dev/null
export DOCKER_HOST=unix:///run/berth/berth.sock
if ! curl -sf --unix-socket /run/berth/berth.sock http://x/_ping >/dev/null 2>&1; then
  mkdir -p /run/berth
  nohup ./berth daemon >/run/berth/berth.log 2>&1 &
  for _ in $(seq 100); do curl -sf --unix-socket /run/berth/berth.sock http://x/_ping >/dev/null 2>&1 && break; sleep 0.2; done
fi
echo "engine up (log: /run/berth/berth.log); export DOCKER_HOST=$DOCKER_HOST"
bash scripts/make-webapp-rootfs.sh /tmp/berth-webapp.tar
docker import -c 'CMD ["/bin/httpd","-f","-p","80","-h","/www"]' /tmp/berth-webapp.tar webapp:noexpose >/dev/null
docker import -c 'CMD ["/bin/httpd","-f","-p","80","-h","/www"]' -c 'EXPOSE 80' /tmp/berth-webapp.tar webapp:expose >/dev/null
docker rm -f flask flask2 web >/dev/null 2>&1 || true
set -x
docker run --rm -d --name flask webapp:noexpose
docker run --rm -d --name web webapp:expose
docker ps
ip=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' flask)
curl -s "http://$ip/"
docker run --rm -d --name flask2 -p 8080:80 webapp:noexpose
docker ps --format "table {{.Names}}\t{{.Image}}\t{{.Ports}}"
curl -s http://127.0.0.1:8080/
{ set +x; } 2>/dev/null
echo "stop with: docker rm -f flask flask2 web; kill \$(cat /run/berth/berth.pid)"
