#!/bin/sh
# Run systemd as PID 1 of a throw-away container, to test ifkitd.service under
# a real service manager on a machine that runs none (or without touching the
# one it runs).  Used by test_ops; prints nothing on success.
#
#   tests/systemd-container.sh DIR
#
# DIR holds the units to load (DIR/units/*, copied to /etc/systemd/system
# inside) and receives DIR/cgdirs (the cgroups made for the container, for the
# caller to rmdir afterwards).  systemd starts only ifkit-test.target.
#
# Everything is private: pid, mount, network, UTS, IPC and cgroup namespaces;
# /run, /etc/systemd/system and /var/log are fresh tmpfs; mounts do not
# propagate back.  The container gets its own cgroup below the caller's in
# every hierarchy, mounted as its root, so systemd's slices stay there.
# Killing the process that runs this script kills the container
# (unshare --kill-child).
set -eu
dir=$1

if [ "${2:-}" != --inside ]; then
	: > "$dir/cgdirs"
	: > "$dir/hierarchies"
	while IFS=: read -r _ ctrl path; do
		case $ctrl in
		"") # the unified hierarchy: beside v1 ones (hybrid), or alone
			if [ -d /sys/fs/cgroup/unified ]; then mnt=/sys/fs/cgroup/unified; name=unified
			else mnt=/sys/fs/cgroup; name=""; fi ;;
		name=*) name=${ctrl#name=}; mnt=/sys/fs/cgroup/$name ;;
		*) name=$ctrl; mnt=/sys/fs/cgroup/$ctrl ;;
		esac
		[ -d "$mnt" ] || continue
		cg=${mnt}${path%/}/ifkit-ct$$
		mkdir -p "$cg"
		# cpuset (v1): a new cgroup takes no task until it has CPUs and nodes
		if [ -f "$cg/cpuset.cpus" ] && [ -z "$(cat "$cg/cpuset.cpus")" ]; then
			cat "${cg%/*}/cpuset.cpus" > "$cg/cpuset.cpus"
			cat "${cg%/*}/cpuset.mems" > "$cg/cpuset.mems"
		fi
		echo $$ > "$cg/cgroup.procs"
		echo "$cg" >> "$dir/cgdirs"
		echo "${ctrl:-cgroup2}|$name" >> "$dir/hierarchies"
	done < /proc/self/cgroup
	exec unshare --cgroup --mount --pid --net --uts --ipc --fork --kill-child=SIGKILL \
		--mount-proc "$0" "$dir" --inside
fi

# PID 1 of the container from here on.
mount --make-rprivate /
mount -t tmpfs tmpfs /run
mkdir -p /run/lock
# cgroup mounts made inside the cgroup namespace show our cgroup as their root
mount -t tmpfs tmpfs /sys/fs/cgroup
while IFS='|' read -r ctrl name; do
	case $ctrl in
	cgroup2) mkdir -p "/sys/fs/cgroup/$name"; mount -t cgroup2 cgroup2 "/sys/fs/cgroup/$name" ;;
	name=*) mkdir -p "/sys/fs/cgroup/$name"; mount -t cgroup -o "none,$ctrl" cgroup "/sys/fs/cgroup/$name" ;;
	*) mkdir -p "/sys/fs/cgroup/$name"; mount -t cgroup -o "$ctrl" cgroup "/sys/fs/cgroup/$name" ;;
	esac
done < "$dir/hierarchies"
mount -t tmpfs tmpfs /etc/systemd/system
cp "$dir"/units/* /etc/systemd/system/
mount -t tmpfs tmpfs /var/log
ip link set lo up
export container=ifkit-test
exec /lib/systemd/systemd --system --log-target=console --unit=ifkit-test.target \
	</dev/null >"$dir/systemd.log" 2>&1
