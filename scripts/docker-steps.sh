#!/usr/bin/env bash
# Checks deploy/docker/Dockerfile without a Docker engine:
#   * both stages start from debian:12 (build) and debian:12(-slim) (runtime);
#   * every package it installs exists in Debian 12's archive (apt-cache policy);
#   * its build packages are all in scripts/setup.sh (the project's one list), and its
#     build commands are exactly the documented release build;
#   * it runs as a non-root USER and copies the files it names.
#   scripts/docker-steps.sh           the checks above (seconds)
#   scripts/docker-steps.sh --build   also runs the build stage's commands on a copy of
#                                     the tree (minutes) and checks that every shared
#                                     library the binary needs comes from a runtime
#                                     package (or from debian:12-slim itself)
# Ends with "N passed, M failed"; exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

dockerfile=deploy/docker/Dockerfile
build=0
[[ "${1:-}" == "--build" ]] && build=1

passed=0
failed=0
ok() { echo "ok   $*"; passed=$((passed + 1)); }
bad() { echo "FAIL $*"; failed=$((failed + 1)); }

# The documented release build (README "Building by hand", minus the tests).
expected_setup="meson setup build --buildtype=release -Dtests=false"
expected_ninja="ninja -C build"

# Splits the Dockerfile into logical lines (continuations joined) for the parsing below.
logical=$(sed -e 's/[[:space:]]*\\$/ /' "$dockerfile" | awk '
  /^[[:space:]]*#/ { next }
  { line = line $0 }
  !/ $/ { print line; line = "" }
  END { if (line != "") print line }')

# Packages installed in stage N (1 = build, 2 = runtime).
packages_of_stage() {
  echo "$logical" | awk -v want="$1" '
    /^FROM / { stage++ }
    stage == want && /apt-get install/ {
      n = split($0, w, /[[:space:]]+/); on = 0
      for (i = 1; i <= n; i++) {
        if (w[i] == "install") { on = 1; continue }
        if (!on) continue
        if (w[i] == "&&") { on = 0; continue }
        if (w[i] ~ /^-/ || w[i] == "") continue
        print w[i]
      }
    }'
}

# --- base images ----------------------------------------------------------------------
mapfile -t froms < <(echo "$logical" | awk '/^FROM /{print $2}')
if [[ ${#froms[@]} -eq 2 && ${froms[0]} == "debian:12" && ${froms[1]} =~ ^debian:12(-slim)?$ ]]; then
  ok "base images: ${froms[*]}"
else
  bad "base images must be debian:12 then debian:12(-slim), found: ${froms[*]:-none}"
fi

# --- packages exist in Debian 12 ----------------------------------------------------------
if [[ -z "$(ls -A /var/lib/apt/lists 2>/dev/null | grep -v -e '^lock$' -e '^partial$' || true)" ]]; then
  if [[ $(id -u) -eq 0 ]]; then apt-get update -q >/dev/null; else
    echo "note: apt lists are empty; run 'apt-get update' for the package checks"; fi
fi
mapfile -t build_pkgs < <(packages_of_stage 1)
mapfile -t run_pkgs < <(packages_of_stage 2)
[[ ${#build_pkgs[@]} -gt 0 ]] && ok "build stage installs ${#build_pkgs[@]} packages" \
  || bad "no apt-get install found in the build stage"
[[ ${#run_pkgs[@]} -gt 0 ]] && ok "runtime stage installs: ${run_pkgs[*]}" \
  || bad "no apt-get install found in the runtime stage"
for p in "${build_pkgs[@]}" "${run_pkgs[@]}"; do
  candidate=$(apt-cache policy "$p" 2>/dev/null | awk '/Candidate:/ {print $2}')
  if [[ -n "$candidate" && "$candidate" != "(none)" ]]; then
    ok "package $p ($candidate)"
  else
    bad "package $p is not in this Debian's archive (apt-cache policy $p)"
  fi
done

# --- build packages are the project's own list ---------------------------------------------
setup_list=$(sed -n '/^packages=(/,/^)/p' scripts/setup.sh)
for p in "${build_pkgs[@]}"; do
  if grep -qw -- "$p" <<<"$setup_list"; then ok "build package $p is in scripts/setup.sh"
  else bad "build package $p is not in scripts/setup.sh's list"; fi
done

# --- build commands ---------------------------------------------------------------------------
if grep -qF -- "$expected_setup" <<<"$logical"; then ok "build runs: $expected_setup"
else bad "build stage does not run: $expected_setup"; fi
if grep -qE -- "(^| )$expected_ninja( |$)" <<<"$logical"; then ok "build runs: $expected_ninja"
else bad "build stage does not run: $expected_ninja"; fi
if grep -q -- "--buildtype=release" README.md && grep -q "^ninja -C build" README.md; then
  ok "README's manual build uses the same commands"
else
  bad "README's 'Building by hand' no longer matches the Dockerfile's build commands"
fi

# --- files, user ----------------------------------------------------------------------------
while read -r src; do
  if [[ -e "$src" ]]; then ok "COPY source $src exists"; else bad "COPY source $src is missing"; fi
done < <(echo "$logical" | awk '/^COPY / && !/--from=/ && $2 != "." {print $2}')
user=$(echo "$logical" | awk '/^USER /{u=$2} END{print u}')
if [[ -n "$user" && "${user%%:*}" != "root" && "${user%%:*}" != "0" ]]; then ok "runs as USER $user"
else bad "no non-root USER (found '${user}')"; fi

# --- optional: the build stage for real -------------------------------------------------------
if ((build)); then
  work=$(mktemp -d /tmp/mqttd-docker-steps.XXXXXX)
  trap 'rm -rf "$work"' EXIT
  git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$work"
  if (cd "$work" && $expected_setup >/dev/null && $expected_ninja >/dev/null \
        && build/src/app/mqttd --version >/dev/null \
        && build/src/app/mqttd --config deploy/docker/mqttd.toml --check-config); then
    ok "build stage commands build mqttd"
    # Every library the binary loads must come from a runtime package or the slim base.
    base_pkgs="libc6 libgcc-s1 libstdc++6"
    while read -r lib; do
      pkg=$(dpkg -S "$(readlink -f "$lib")" 2>/dev/null | head -1 | cut -d: -f1)
      if [[ -z "$pkg" ]]; then bad "library $lib belongs to no package"; continue; fi
      if grep -qw -- "$pkg" <<<"${run_pkgs[*]} $base_pkgs"; then ok "library $lib from $pkg"
      else bad "library $lib comes from $pkg, which the runtime stage does not install"; fi
    done < <(ldd "$work/build/src/app/mqttd" | awk '$3 ~ /^\// {print $3}')
  else
    bad "build stage commands failed (see above)"
  fi
fi

echo "docker-steps: $passed passed, $failed failed"
((failed == 0))
