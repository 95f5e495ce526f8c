#!/usr/bin/python3
"""Runs a command under a seccomp profile written in the OCI/Docker JSON format, without a
container runtime, the way runc applies it (no_new_privs set, filter loaded, then exec).
For checking mqttd-seccomp.json against the real binary on a development machine:

    deploy/kubernetes/seccomp/run-with-profile.py deploy/kubernetes/seccomp/mqttd-seccomp.json \\
        -- build/src/app/mqttd --config mqttd.example.toml

A syscall the profile does not allow fails with the profile's errno (EPERM), as in a pod.
Needs Debian's python3-seccomp (libseccomp's bindings). Understands the subset of the
format the profile uses: defaultAction/defaultErrnoRet, and syscalls entries with names,
action (SCMP_ACT_ALLOW or SCMP_ACT_ERRNO), errnoRet and args. Like runc, a syscall name
unknown on this architecture is skipped."""

import json
import os
import sys

import seccomp

OPS = {
    "SCMP_CMP_EQ": seccomp.EQ, "SCMP_CMP_NE": seccomp.NE, "SCMP_CMP_LT": seccomp.LT,
    "SCMP_CMP_LE": seccomp.LE, "SCMP_CMP_GT": seccomp.GT, "SCMP_CMP_GE": seccomp.GE,
    "SCMP_CMP_MASKED_EQ": seccomp.MASKED_EQ,
}


def action(name, errno_ret):
    if name == "SCMP_ACT_ALLOW":
        return seccomp.ALLOW
    if name == "SCMP_ACT_ERRNO":
        return seccomp.ERRNO(errno_ret)
    raise SystemExit("run-with-profile: unsupported action %s" % name)


def build(profile):
    f = seccomp.SyscallFilter(action(profile["defaultAction"], profile.get("defaultErrnoRet", 1)))
    for rule in profile["syscalls"]:
        act = action(rule["action"], rule.get("errnoRet", 1))
        args = []
        for a in rule.get("args") or []:
            op = OPS[a["op"]]
            if op == seccomp.MASKED_EQ:
                args.append(seccomp.Arg(a["index"], op, a["value"], a.get("valueTwo", 0)))
            else:
                args.append(seccomp.Arg(a["index"], op, a["value"]))
        for name in rule["names"]:
            try:
                seccomp.resolve_syscall(seccomp.Arch.NATIVE, name)
            except (ValueError, RuntimeError):
                continue  # not a syscall on this architecture
            f.add_rule(act, name, *args)
    return f


def main():
    if len(sys.argv) < 4 or sys.argv[2] != "--":
        raise SystemExit("usage: run-with-profile.py PROFILE.json -- COMMAND [ARGS...]")
    with open(sys.argv[1]) as fh:
        profile = json.load(fh)
    command = sys.argv[3:]
    build(profile).load()  # libseccomp sets no_new_privs first, as runc does
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
