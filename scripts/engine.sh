#!/usr/bin/env bash
# scripts/engine.sh - make a Docker engine, buildx, a loopback registry and a
# locally made root image available for buildorch's builds and tests.
#
#   scripts/engine.sh [up]    ensure all of it (idempotent; a quick no-op when all is there)
#   scripts/engine.sh status  one line per part; exit 1 if engine, buildx or root image is missing
#   scripts/engine.sh down    stop the dockerd / registry that THIS script started, nothing else
# (The tests' private engines are tests/engines.py's.)
#
# Two cases (see docs/explanation/engines.md, "The engine on a bare machine"):
#  * An engine already answers `docker info` (honouring DOCKER_HOST and the docker context):
#    use it and install nothing system-wide (a developer's laptop).
#  * None answers and we are root on Debian (these machines, CI): install Docker from Debian
#    packages (Engine 26.1 + buildx 0.13 from trixie on bookworm), start dockerd and a
#    `docker-registry` on 127.0.0.1:5000 in the background, and track their PIDs in
#    $STATE_DIR so that `down` stops only those.
# Either way the root image busybox:1.36 is made locally without pulling (busybox-static
# from Debian copied into a FROM scratch image), because no registry can be pulled from here.
#
# Environment knobs (all optional):
#   BUILDORCH_ROOT_IMAGE    tag of the locally made root image       (default busybox:1.36)
#   BUILDORCH_ENGINE_WAIT   seconds to wait for a started dockerd     (default 60)
set -euo pipefail

ROOT_IMAGE=${BUILDORCH_ROOT_IMAGE:-busybox:1.36}
ENGINE_WAIT=${BUILDORCH_ENGINE_WAIT:-60}
REGISTRY_ADDR=127.0.0.1:5000
REGISTRY_URL=http://$REGISTRY_ADDR/v2/
REGISTRY_DIR=/var/lib/buildorch-registry
REGISTRY_CONTAINER=buildorch-registry
DOCKERD_LOG=/var/log/buildorch-dockerd.log
REGISTRY_LOG=/var/log/buildorch-registry.log
APT_LOG=/var/log/buildorch-engine-apt.log
DOCKERD_PIDFILE=/var/run/docker.pid
DAEMON_JSON=/etc/docker/daemon.json
# Private apt state for the trixie suite: never under /etc/apt, so the system's own
# sources (bookworm) are untouched and a later `apt-get upgrade` cannot drift to trixie.
TRIXIE_DIR=/var/lib/buildorch-engine/apt-trixie
# Where the Debian docker-buildx package puts the plugin, and a plugin directory that a
# Docker CLI installed elsewhere (/usr/local/bin/docker here) searches as well.
DEBIAN_BUILDX=/usr/libexec/docker/cli-plugins/docker-buildx
DEBIAN_COMPOSE=/usr/libexec/docker/cli-plugins/docker-compose
LOCAL_PLUGIN_DIR=/usr/local/lib/docker/cli-plugins

if [ "$(id -u)" = 0 ]; then
    STATE_DIR=/run/buildorch-engine
else
    STATE_DIR=${XDG_RUNTIME_DIR:-${TMPDIR:-/tmp}}/buildorch-engine-$(id -u)
fi

log() { printf '[engine] %s\n' "$*"; }
warn() { printf '[engine] NOTE: %s\n' "$*" >&2; }
die() { printf '[engine] ERROR: %s\n' "$*" >&2; exit 1; }

# ---- timing ---------------------------------------------------------------------------
# EPOCHREALTIME needs bash >= 5; macOS's bash 3.2 falls back to whole seconds.
now() {
    if [ -n "${EPOCHREALTIME:-}" ]; then printf '%s' "${EPOCHREALTIME/,/.}"; else date +%s; fi
}
T_START=$(now)
PHASE=
PHASE_T0=
TIMINGS=
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
begin() { PHASE=$1; PHASE_T0=$(now); }
# end MESSAGE...: print one line for the phase with its duration and remember the timing.
end() {
    local dt
    dt=$(elapsed "$PHASE_T0")
    TIMINGS="$TIMINGS $PHASE=${dt}s"
    log "$PHASE: $* (${dt}s)"
}

# ---- small helpers --------------------------------------------------------------------
have() { command -v "$1" >/dev/null 2>&1; }
# with_timeout SECONDS CMD...: `timeout` where it exists (macOS lacks it).
with_timeout() {
    local t=$1
    shift
    if have timeout; then timeout "$t" "$@"; else "$@"; fi
}
engine_answers() { have docker && with_timeout "${1:-20}" docker info >/dev/null 2>&1; }
server_version() { with_timeout 20 docker version --format '{{.Server.Version}}' 2>/dev/null || true; }
buildx_version() { with_timeout 20 docker buildx version 2>/dev/null | head -n1 || true; }
image_id() { with_timeout 20 docker image inspect --format '{{.Id}}' "$1" 2>/dev/null || true; }

registry_answers() {
    if have curl; then
        curl -fsS -m 3 -o /dev/null "$REGISTRY_URL" 2>/dev/null
    else
        # No curl (bare images): speak just enough HTTP over bash's /dev/tcp.
        # shellcheck disable=SC2016  # expanded by the inner bash, on purpose
        with_timeout 3 bash -c '
            exec 3<>/dev/tcp/127.0.0.1/5000 || exit 1
            printf "GET /v2/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n" >&3
            IFS= read -r line <&3 && case $line in "HTTP/"*" 200"*) exit 0 ;; esac
            exit 1' 2>/dev/null
    fi
}

# pid_of_ours FILE NAME: print the PID stored in FILE if that process is alive and is NAME.
# The name check keeps a stale pid file (after a reboot) from pointing at someone else.
pid_of_ours() {
    local pid comm
    [ -r "$1" ] || return 1
    pid=$(head -n1 "$1" 2>/dev/null || true)
    case $pid in '' | *[!0-9]*) return 1 ;; esac
    [ -r "/proc/$pid/comm" ] || return 1
    comm=$(cat "/proc/$pid/comm" 2>/dev/null || true)
    [ "$comm" = "$2" ] || return 1
    printf '%s' "$pid"
}

tail_log() { [ -r "$1" ] && tail -n "${2:-15}" "$1" | sed 's/^/    | /' >&2 || true; }

LOCKED=
lock() {
    mkdir -p "$STATE_DIR"
    if have flock && [ -z "$LOCKED" ]; then
        # Serialise concurrent runs (several test sessions may call `up` at once).
        # Daemons started below get `9>&-` so that they never inherit (and keep) the lock.
        exec 9>"$STATE_DIR/lock"
        if ! flock -n 9; then
            log "waiting for another engine.sh run (lock $STATE_DIR/lock)"
            flock -w 600 9 || die "another engine.sh run has held $STATE_DIR/lock for 600s"
        fi
        LOCKED=1
    fi
}

CLEANUP_PATHS=()
REMOVE_POLICY_RC=
cleanup() {
    local p
    for p in ${CLEANUP_PATHS[@]+"${CLEANUP_PATHS[@]}"}; do rm -rf -- "$p"; done
    if [ -n "$REMOVE_POLICY_RC" ]; then rm -f /usr/sbin/policy-rc.d; fi
}
trap cleanup EXIT

is_debian_root() {
    [ "$(id -u)" = 0 ] && [ -r /etc/debian_version ] && have apt-get && have dpkg && have dpkg-deb
}

# shellcheck disable=SC1091
os_id() { (. /etc/os-release 2>/dev/null && printf '%s' "${ID:-}") || true; }

# ---- apt --------------------------------------------------------------------------------
APT_UPDATED=
apt_update_once() {
    [ -n "$APT_UPDATED" ] && return 0
    apt-get update -q -o DPkg::Lock::Timeout=300 >>"$APT_LOG" 2>&1 || die "apt-get update failed; see $APT_LOG"
    APT_UPDATED=1
}

pkg_version() { dpkg-query -W -f '${Status} ${Version}\n' "$1" 2>/dev/null | awk '$1 == "install" && $3 == "installed" { print $4 }'; }
pkg_installed() { [ -n "$(pkg_version "$1")" ]; }
candidate() { apt-cache "$@" 2>/dev/null | awk '/^  Candidate:/ { print $2; exit }'; }

# The Debian mirror the system already uses (so a machine behind its own mirror keeps using it).
debian_mirror() {
    local uri
    uri=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i !~ /security/) { print $i; exit } }')
    if [ -z "$uri" ]; then
        uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^https?:/ && $i !~ /security/) { print $i; exit } }')
    fi
    printf '%s' "${uri:-http://deb.debian.org/debian}"
}

# Options that point apt at the private trixie source list and state (nothing under /etc/apt).
TRIXIE_OPTS=(-o "Dir::Etc::sourcelist=$TRIXIE_DIR/sources.list" -o "Dir::Etc::sourceparts=-"
    -o "Dir::State::Lists=$TRIXIE_DIR/lists" -o "Dir::Cache=$TRIXIE_DIR/cache"
    -o "APT::Get::List-Cleanup=0" -o "APT::Sandbox::User=root")

# Engine packages: docker.io (dockerd), docker-cli (/usr/bin/docker), docker-buildx (plugin).
# The containerd image store (needed for local/registry cache export with the default
# `docker` buildx driver) wants Engine >= 24; bookworm only has 20.10, so take trixie's.
# docker-compose (v2, the CLI plugin): `buildorch init` reads compose files through
# `docker compose config` where it exists, and the tests compare that with its PyYAML reader.
ENGINE_PKGS=(docker.io docker-cli docker-buildx docker-compose)
engine_pkgs_ok() {
    local v
    v=$(pkg_version docker.io)
    [ -n "$v" ] && dpkg --compare-versions "$v" ge 24 && pkg_installed docker-cli && pkg_installed docker-buildx &&
        dpkg --compare-versions "$(pkg_version docker-compose)" ge 2   # v1 (Python) is no plugin
}

install_engine_pkgs() {
    local cand tmp
    apt_update_once
    cand=$(candidate policy docker.io)
    if [ -n "$cand" ] && [ "$cand" != "(none)" ] && dpkg --compare-versions "$cand" ge 24 &&
        [ -n "$(candidate policy docker-buildx)" ] && [ "$(candidate policy docker-buildx)" != "(none)" ] &&
        dpkg --compare-versions "$(candidate policy docker-compose | sed 's/(none)//')" ge 2; then
        # The system's own suite is new enough (trixie or later, recent Ubuntu).
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=300 --no-install-recommends "${ENGINE_PKGS[@]}" \
            >>"$APT_LOG" 2>&1 || die "apt-get install ${ENGINE_PKGS[*]} failed; see $APT_LOG"
        ENGINE_SRC="the system's suites"
        return 0
    fi
    [ "$(os_id)" = debian ] || die "this system's docker.io is older than 24 and it is not Debian: install Docker Engine >= 24 with buildx by hand"
    # bookworm: fetch trixie's builds. They need only libc6 >= 2.34 plus packages that
    # bookworm has (containerd, runc, tini, iptables), so they install without a libc upgrade.
    mkdir -p "$TRIXIE_DIR/lists/partial" "$TRIXIE_DIR/cache/archives/partial"
    printf 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s trixie main\n' \
        "$(debian_mirror)" >"$TRIXIE_DIR/sources.list"
    apt-get "${TRIXIE_OPTS[@]}" update -q >>"$APT_LOG" 2>&1 || die "apt-get update (trixie, private lists) failed; see $APT_LOG"
    tmp=$(mktemp -d)
    CLEANUP_PATHS+=("$tmp")
    (cd "$tmp" && apt-get "${TRIXIE_OPTS[@]}" download "${ENGINE_PKGS[@]}") >>"$APT_LOG" 2>&1 ||
        die "apt-get download ${ENGINE_PKGS[*]} from trixie failed; see $APT_LOG"
    DEBIAN_FRONTEND=noninteractive dpkg -i "$tmp"/*.deb >>"$APT_LOG" 2>&1 || die "dpkg -i of the trixie engine packages failed; see $APT_LOG"
    ENGINE_SRC=trixie
}

# ---- steps of the bare-machine path ----------------------------------------------------
step_packages() {
    begin packages
    local p missing=() did=
    # containerd/runc/tini/iptables: what docker.io depends on; docker-registry: the loopback
    # registry. All from the system's own suite (bookworm).
    for p in containerd runc tini iptables docker-registry; do
        pkg_installed "$p" || missing+=("$p")
    done
    if ! engine_pkgs_ok || [ ${#missing[@]} -gt 0 ]; then
        # Package scripts must not start services (no init system runs here; dockerd is
        # started below, under our control). Debian's container images already ship a
        # policy-rc.d that says so; add a temporary one where there is none.
        if [ ! -e /usr/sbin/policy-rc.d ]; then
            printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
            chmod 755 /usr/sbin/policy-rc.d
            REMOVE_POLICY_RC=1
        fi
    fi
    if [ ${#missing[@]} -gt 0 ]; then
        apt_update_once
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=300 --no-install-recommends "${missing[@]}" \
            >>"$APT_LOG" 2>&1 || die "apt-get install ${missing[*]} failed; see $APT_LOG"
        did="installed ${missing[*]}"
    fi
    if ! engine_pkgs_ok; then
        install_engine_pkgs
        did="${did:+$did; }installed ${ENGINE_PKGS[*]} $(pkg_version docker.io) from $ENGINE_SRC"
    fi
    if [ -n "$REMOVE_POLICY_RC" ]; then rm -f /usr/sbin/policy-rc.d; REMOVE_POLICY_RC=; fi
    end "${did:-all installed, nothing to do}"
}

step_daemon_json() {
    begin daemon.json
    local want='{"features":{"containerd-snapshotter":true}}' py res
    mkdir -p "$(dirname "$DAEMON_JSON")"
    if [ ! -s "$DAEMON_JSON" ]; then
        printf '%s\n' "$want" >"$DAEMON_JSON"
        end "wrote $DAEMON_JSON (containerd image store)"
        return 0
    fi
    if [ "$(tr -d ' \t\n' <"$DAEMON_JSON")" = "$want" ]; then
        end "unchanged"
        return 0
    fi
    py=$(command -v python3 || true)
    if [ -z "$py" ]; then
        warn "$DAEMON_JSON has other content and no python3 to merge it: make sure it has $want"
        end "left as it is"
        return 0
    fi
    # Merge: keep every other setting; never override an explicit false.
    res=$("$py" - "$DAEMON_JSON" <<'PY' 2>&1
import json, os, sys
path = sys.argv[1]
try:
    with open(path) as f:
        conf = json.load(f)
except Exception as e:
    print("invalid: %s" % e)
    sys.exit(0)
feats = conf.setdefault("features", {})
if feats.get("containerd-snapshotter") is True:
    print("ok")
elif feats.get("containerd-snapshotter") is False:
    print("disabled")
else:
    feats["containerd-snapshotter"] = True
    os.replace(path, path + ".buildorch-bak")
    with open(path, "w") as f:
        json.dump(conf, f, indent=2)
        f.write("\n")
    print("merged")
PY
    ) || res="invalid: python3 failed"
    case $res in
        ok) end "already enables the containerd image store" ;;
        merged)
            end "merged containerd-snapshotter=true into $DAEMON_JSON (old one kept as .buildorch-bak)"
            if pid_of_ours "$STATE_DIR/dockerd.pid" dockerd >/dev/null; then
                warn "restart the engine for this to apply: scripts/engine.sh down && scripts/engine.sh up"
            fi
            ;;
        disabled)
            warn "$DAEMON_JSON sets features.containerd-snapshotter=false: type=local/registry cache export will not work with the docker driver"
            end "left as it is" ;;
        *)
            warn "$DAEMON_JSON could not be read as JSON ($res); left as it is"
            end "left as it is" ;;
    esac
}

# Flags for dockerd on these machines (Firecracker VMs / containers without an init system).
# Containers here need no network, so dockerd is kept off the host's network setup:
#  --iptables=false --ip6tables=false
#        iptables (nf_tables) does work on these VMs, but with it on dockerd writes NAT and
#        FORWARD rules into the host's firewall and leaves them behind when it stops; in
#        sandboxes without netfilter it would exit at start instead.
#  --ip-forward=false
#        otherwise dockerd sets net.ipv4.ip_forward=1 on the host (even with iptables off).
#  --bridge=none, ONLY when the kernel cannot make a bridge device (dockerd would die
#        creating docker0). Not used here: docker0 works. Beware: without the "bridge"
#        network every BuildKit RUN fails with "network bridge not found" unless the build
#        runs with `docker buildx build --network=none` (or host); a warning says so.
#  --exec-opt native.cgroupdriver=cgroupfs
#        no systemd runs; the host has hybrid cgroups (v1 controllers + a v2 "unified"
#        mount), which dockerd/runc handle as cgroup v1 with the cgroupfs driver.
#  --host / --pidfile: the defaults, spelled out because `down` and the checks rely on them.
# Storage: nothing to set. With the containerd image store (daemon.json) images live in
# containerd's overlayfs snapshotter, which works on this ext4 root.
# Keys already set in daemon.json are not passed again (dockerd refuses a key set twice).
dockerd_flags() {
    DOCKERD_FLAGS=(--host unix:///var/run/docker.sock --pidfile "$DOCKERD_PIDFILE")
    local key flag
    for flag in --exec-opt=native.cgroupdriver=cgroupfs --iptables=false --ip6tables=false --ip-forward=false; do
        key=${flag#--}
        key=${key%%=*}
        [ "$key" = exec-opt ] && key=exec-opts
        grep -q "\"$key\"" "$DAEMON_JSON" 2>/dev/null || DOCKERD_FLAGS+=("$flag")
    done
    if ! grep -q '"bridge"' "$DAEMON_JSON" 2>/dev/null && ! can_make_bridge; then
        DOCKERD_FLAGS+=(--bridge=none)
        warn "this kernel cannot make a bridge: dockerd runs with --bridge=none, so RUN steps need 'docker buildx build --network=none'"
    fi
}

can_make_bridge() {
    # docker0 existing from an earlier run proves it; otherwise try a throwaway bridge.
    have ip || return 0
    ip link show docker0 >/dev/null 2>&1 && return 0
    if ip link add name bo-probe0 type bridge >/dev/null 2>&1; then
        ip link del bo-probe0 >/dev/null 2>&1 || true
        return 0
    fi
    return 1
}

step_dockerd() {
    begin dockerd
    local pid other deadline
    if engine_answers 10; then
        pid=$(pid_of_ours "$STATE_DIR/dockerd.pid" dockerd || true)
        end "already running${pid:+ (pid $pid, started by engine.sh)}, engine $(server_version)"
        return 0
    fi
    pid=$(pid_of_ours "$STATE_DIR/dockerd.pid" dockerd || true)
    if [ -z "$pid" ]; then
        other=$(pid_of_ours "$DOCKERD_PIDFILE" dockerd || true)
        [ -z "$other" ] || die "a dockerd (pid $other) runs but does not answer; not touching it (see its logs)"
        have dockerd || die "dockerd not found after install"
        dockerd_flags
        printf '\n==== %s engine.sh starting: dockerd %s\n' "$(date '+%F %T')" "${DOCKERD_FLAGS[*]}" >>"$DOCKERD_LOG"
        # setsid: own session, so a Ctrl-C or a job kill aimed at the caller's process
        # group does not take the engine down with it.
        # 9>&-: do not hand the lock fd to the daemon, or it holds the lock forever.
        setsid dockerd "${DOCKERD_FLAGS[@]}" >>"$DOCKERD_LOG" 2>&1 </dev/null 9>&- &
        pid=$!
        printf '%s\n' "$pid" >"$STATE_DIR/dockerd.pid"
    fi
    deadline=$(($(date +%s) + ENGINE_WAIT))
    until engine_answers 5; do
        if ! kill -0 "$pid" 2>/dev/null; then
            rm -f "$STATE_DIR/dockerd.pid"
            tail_log "$DOCKERD_LOG" 20
            die "dockerd exited at start; log: $DOCKERD_LOG"
        fi
        if [ "$(date +%s)" -ge "$deadline" ]; then
            tail_log "$DOCKERD_LOG" 20
            die "dockerd (pid $pid) did not answer within ${ENGINE_WAIT}s; log: $DOCKERD_LOG"
        fi
        sleep 0.3
    done
    # dockerd writes its own pid file; trust it over $! (setsid may have forked).
    other=$(pid_of_ours "$DOCKERD_PIDFILE" dockerd || true)
    [ -z "$other" ] || { pid=$other; printf '%s\n' "$pid" >"$STATE_DIR/dockerd.pid"; }
    end "started dockerd pid $pid (engine $(server_version)), log $DOCKERD_LOG"
}

# buildx from PATH as it is. Here /usr/local/bin/docker (a 28.x client) shadows Debian's
# /usr/bin/docker; Docker CLIs search /usr/libexec/docker/cli-plugins too, but if this one
# does not, link the plugin into /usr/local/lib/docker/cli-plugins, which every CLI searches.
step_buildx() {
    local bare=$1 v
    begin buildx
    v=$(buildx_version)
    if [ "$bare" = 1 ] && [ -x "$DEBIAN_COMPOSE" ] && ! docker compose version >/dev/null 2>&1; then
        mkdir -p "$LOCAL_PLUGIN_DIR"
        ln -sfn "$DEBIAN_COMPOSE" "$LOCAL_PLUGIN_DIR/docker-compose"
    fi
    if [ -z "$v" ] && [ "$bare" = 1 ] && [ -x "$DEBIAN_BUILDX" ]; then
        mkdir -p "$LOCAL_PLUGIN_DIR"
        ln -sfn "$DEBIAN_BUILDX" "$LOCAL_PLUGIN_DIR/docker-buildx"
        v=$(buildx_version)
        [ -z "$v" ] || { end "linked $DEBIAN_BUILDX into $LOCAL_PLUGIN_DIR: $v"; return 0; }
    fi
    if [ -z "$v" ]; then
        die "'docker buildx' is missing: install the buildx plugin (Debian/Ubuntu: apt-get install docker-buildx; Docker's repo: docker-buildx-plugin; Docker Desktop has it)"
    fi
    end "$v"
}

write_registry_config() {
    local conf=$REGISTRY_DIR/config.yml new
    mkdir -p "$REGISTRY_DIR/data"
    new=$(cat <<EOF
# written by buildorch scripts/engine.sh
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $REGISTRY_DIR/data
  delete:
    enabled: true
http:
  addr: $REGISTRY_ADDR
EOF
    )
    if [ ! -f "$conf" ] || [ "$(cat "$conf")" != "$new" ]; then printf '%s\n' "$new" >"$conf"; fi
    printf '%s' "$conf"
}

# Start Debian's docker-registry binary in the background on 127.0.0.1:5000.
start_registry_binary() {
    local conf pid deadline
    conf=$(write_registry_config)
    printf '\n==== %s engine.sh starting: docker-registry serve %s\n' "$(date '+%F %T')" "$conf" >>"$REGISTRY_LOG"
    setsid /usr/bin/docker-registry serve "$conf" >>"$REGISTRY_LOG" 2>&1 </dev/null 9>&- &
    pid=$!
    printf '%s\n' "$pid" >"$STATE_DIR/registry.pid"
    deadline=$(($(date +%s) + 15))
    until registry_answers; do
        if ! kill -0 "$pid" 2>/dev/null || [ "$(date +%s)" -ge "$deadline" ]; then
            kill "$pid" 2>/dev/null || true
            rm -f "$STATE_DIR/registry.pid"
            tail_log "$REGISTRY_LOG" 10
            return 1
        fi
        sleep 0.2
    done
    REGISTRY_PID=$pid
}

step_registry_bare() {
    begin registry
    local pid
    if registry_answers; then
        pid=$(pid_of_ours "$STATE_DIR/registry.pid" docker-registry || true)
        end "answering at $REGISTRY_URL${pid:+ (pid $pid, started by engine.sh)}"
        return 0
    fi
    [ -x /usr/bin/docker-registry ] || die "/usr/bin/docker-registry missing (package docker-registry)"
    pid=$(pid_of_ours "$STATE_DIR/registry.pid" docker-registry || true)
    if [ -n "$pid" ]; then
        # Ours but not answering: restart it.
        kill "$pid" 2>/dev/null || true
        sleep 1
    fi
    start_registry_binary || die "docker-registry did not answer at $REGISTRY_URL; log: $REGISTRY_LOG"
    end "started docker-registry pid $REGISTRY_PID at $REGISTRY_ADDR, storage $REGISTRY_DIR/data"
}

# Laptop case: never pull. Start registry:2 as a container if that image is already there
# (or Debian's docker-registry binary if it is installed and we are root); else just a note.
step_registry_external() {
    begin registry
    if registry_answers; then
        end "answering at $REGISTRY_URL"
        return 0
    fi
    if [ -n "$(image_id registry:2)" ]; then
        with_timeout 30 docker rm -f "$REGISTRY_CONTAINER" >/dev/null 2>&1 || true
        if with_timeout 60 docker run -d --name "$REGISTRY_CONTAINER" -p "$REGISTRY_ADDR:5000" registry:2 \
            >"$STATE_DIR/registry.container" 2>/dev/null; then
            local _
            for _ in $(seq 1 50); do registry_answers && break; sleep 0.2; done
            if registry_answers; then
                end "started container $REGISTRY_CONTAINER (registry:2) at $REGISTRY_ADDR"
                return 0
            fi
        fi
        rm -f "$STATE_DIR/registry.container"
        warn "could not start registry:2 as a container on $REGISTRY_ADDR"
    elif [ "$(id -u)" = 0 ] && [ -x /usr/bin/docker-registry ]; then
        if start_registry_binary; then
            end "started docker-registry pid $REGISTRY_PID at $REGISTRY_ADDR"
            return 0
        fi
    fi
    warn "no registry on $REGISTRY_ADDR: registry-cache tests need one (e.g. docker run -d -p $REGISTRY_ADDR:5000 registry:2)"
    end "none (not fatal)"
}

# Make the root image without pulling: busybox-static's binary in a FROM scratch image.
step_root_image() {
    begin root-image
    local id tmp deb bbver srv_arch
    id=$(image_id "$ROOT_IMAGE")
    if [ -n "$id" ]; then
        end "$ROOT_IMAGE present ($id)"
        return 0
    fi
    tmp=$(mktemp -d)
    CLEANUP_PATHS+=("$tmp")
    srv_arch=$(with_timeout 20 docker version --format '{{.Server.Arch}}' 2>/dev/null || true)
    if have apt-get && have dpkg-deb && have dpkg && [ "$srv_arch" = "$(dpkg --print-architecture)" ]; then
        mkdir -p "$tmp/dl" "$tmp/x" "$tmp/ctx"
        # apt-get download needs no root, only package lists; refresh them once if it fails.
        if ! (cd "$tmp/dl" && apt-get -o APT::Sandbox::User="$(id -un)" download busybox-static) >>"$tmp/apt.log" 2>&1; then
            if [ "$(id -u)" = 0 ]; then
                apt_update_once
                (cd "$tmp/dl" && apt-get -o APT::Sandbox::User=root download busybox-static) >>"$tmp/apt.log" 2>&1 || true
            fi
        fi
    fi
    deb=
    for deb in "$tmp"/dl/busybox-static_*.deb; do break; done
    if [ ! -f "$deb" ]; then
        warn "cannot get busybox-static from apt here: pulling $ROOT_IMAGE instead"
        with_timeout 300 docker pull -q "$ROOT_IMAGE" >/dev/null || die "docker pull $ROOT_IMAGE failed (and no apt to make it locally)"
        end "pulled $ROOT_IMAGE ($(image_id "$ROOT_IMAGE"))"
        return 0
    fi
    dpkg-deb -x "$deb" "$tmp/x"
    bbver=$(dpkg-deb -f "$deb" Version)
    cp "$tmp/x/bin/busybox" "$tmp/ctx/busybox"
    cat >"$tmp/ctx/Dockerfile" <<EOF
# Root image made by buildorch scripts/engine.sh from Debian's busybox-static $bbver (no pull).
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "sh", "-c", "/bin/busybox mkdir -p /usr/bin /sbin /usr/sbin /etc /root /tmp /var/tmp && /bin/busybox chmod 1777 /tmp /var/tmp && /bin/busybox --install -s /bin && echo 'root:x:0:0:root:/root:/bin/sh' > /etc/passwd && echo 'root:x:0:' > /etc/group"]
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
LABEL org.buildorch.root-image="busybox-static $bbver"
CMD ["sh"]
EOF
    if ! with_timeout 300 docker buildx build --load --provenance=false --progress=plain \
        -t "$ROOT_IMAGE" "$tmp/ctx" >"$tmp/build.log" 2>&1; then
        tail_log "$tmp/build.log" 20
        die "building $ROOT_IMAGE from busybox-static failed"
    fi
    end "built $ROOT_IMAGE from busybox-static $bbver ($(image_id "$ROOT_IMAGE"))"
}

# ---- status -------------------------------------------------------------------------------
# Prints one line per part; returns 1 if the engine, buildx or the root image is unusable.
report() {
    local rc=0 v pid ds reg id
    if engine_answers 10; then
        pid=$(pid_of_ours "$STATE_DIR/dockerd.pid" dockerd || true)
        ds=$(with_timeout 20 docker info --format '{{json .DriverStatus}}' 2>/dev/null || true)
        case $ds in *io.containerd.snapshotter*) ds="containerd image store" ;; *) ds="classic image store (no local/registry cache export with the docker driver)" ;; esac
        log "engine: $(server_version) ${pid:+(dockerd pid $pid, started by engine.sh) }${DOCKER_HOST:+at $DOCKER_HOST }- $ds"
    else
        log "engine: not reachable${DOCKER_HOST:+ at $DOCKER_HOST}"
        rc=1
    fi
    v=$(buildx_version)
    if [ -n "$v" ]; then log "buildx: $v"; else log "buildx: missing"; rc=1; fi
    if registry_answers; then
        reg="answering at $REGISTRY_ADDR"
        pid=$(pid_of_ours "$STATE_DIR/registry.pid" docker-registry || true)
        [ -z "$pid" ] || reg="$reg (docker-registry pid $pid, started by engine.sh)"
        [ ! -s "$STATE_DIR/registry.container" ] || reg="$reg (container $REGISTRY_CONTAINER, started by engine.sh)"
        log "registry: $reg"
    else
        log "registry: not answering at $REGISTRY_ADDR"
    fi
    if [ $rc = 0 ]; then
        id=$(image_id "$ROOT_IMAGE")
        if [ -n "$id" ]; then log "root image: $ROOT_IMAGE $id"; else log "root image: $ROOT_IMAGE missing"; rc=1; fi
    fi
    return $rc
}

# ---- commands -----------------------------------------------------------------------------
cmd_up() {
    lock
    local other_host=
    if [ -n "${DOCKER_HOST:-}" ] && [ "$DOCKER_HOST" != unix:///var/run/docker.sock ]; then
        other_host=1   # e.g. a tests' private engine: use it even when we started the main one
    fi
    if { [ -n "$other_host" ] || ! pid_of_ours "$STATE_DIR/dockerd.pid" dockerd >/dev/null; } &&
        engine_answers 20; then
        # Someone else's engine (laptop, CI service): use it, install nothing system-wide.
        begin engine
        end "using the running engine $(server_version)${DOCKER_HOST:+ at $DOCKER_HOST}; installing nothing"
        step_buildx 0
        step_registry_external
    else
        if [ -n "${DOCKER_HOST:-}" ] && [ "$DOCKER_HOST" != unix:///var/run/docker.sock ]; then
            die "DOCKER_HOST=$DOCKER_HOST does not answer; unset it to let engine.sh start a local dockerd"
        fi
        is_debian_root || die "no Docker engine answers: start one (Docker Desktop, or 'sudo systemctl start docker'), or run this as root on Debian to install one"
        step_packages
        step_daemon_json
        step_dockerd
        step_buildx 1
        step_registry_bare
    fi
    step_root_image
    report || die "engine is not usable (see above)"
    log "timings:$TIMINGS total=$(elapsed "$T_START")s"
}

# stop_pid PID NAME: TERM, wait up to 30 s, then KILL.
stop_pid() {
    local pid=$1 name=$2 _
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 1 150); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.2
    done
    warn "$name (pid $pid) ignored SIGTERM for 30s: killing it"
    kill -KILL "$pid" 2>/dev/null || true
}

cmd_down() {
    lock
    local pid stopped=
    begin down
    if [ -s "$STATE_DIR/registry.container" ]; then
        with_timeout 60 docker rm -f "$(head -n1 "$STATE_DIR/registry.container")" >/dev/null 2>&1 || true
        stopped="$stopped registry-container"
    fi
    rm -f "$STATE_DIR/registry.container"
    if pid=$(pid_of_ours "$STATE_DIR/registry.pid" docker-registry); then
        stop_pid "$pid" docker-registry
        stopped="$stopped docker-registry($pid)"
    fi
    rm -f "$STATE_DIR/registry.pid"
    if pid=$(pid_of_ours "$STATE_DIR/dockerd.pid" dockerd); then
        # dockerd stops the containerd it manages as it exits.
        stop_pid "$pid" dockerd
        stopped="$stopped dockerd($pid)"
    fi
    rm -f "$STATE_DIR/dockerd.pid"
    end "stopped:${stopped:- nothing (engine.sh had started nothing that still runs)}"
}

case ${1:-up} in
    up) cmd_up ;;
    down) cmd_down ;;
    status) report ;;
    -h | --help | help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//' ;;
    *) die "usage: $0 [up|down|status]" ;;
esac
