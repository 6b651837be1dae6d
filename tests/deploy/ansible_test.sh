#!/usr/bin/env bash
# deploy/ansible: the playbook's syntax (ansible-playbook --syntax-check), ansible-lint, and
# the role's config tasks run for real into a temp directory: a good config is written
# after `pgsluice check` (the template's validate) accepts it; a bad one is refused and the
# file already there stays as it was.
# Usage: ansible_test.sh REPO_DIR PGSLUICE_BINARY
set -euo pipefail

repo=$(cd "$1" && pwd)
binary=$(realpath "$2")
work=$(mktemp -d /tmp/pgsluice-ansible-test-XXXXXX)
trap 'rm -rf "$work"' EXIT
export ANSIBLE_ROLES_PATH=$repo/deploy/ansible/roles ANSIBLE_NOCOLOR=1 ANSIBLE_LOCALHOST_WARNING=false \
  ANSIBLE_INVENTORY_UNPARSED_WARNING=false ANSIBLE_LOCAL_TEMP=$work/tmp ANSIBLE_HOME=$work/home
fail() { echo "FAIL: $*"; exit 1; }

printf '[pgsluice]\nlocalhost ansible_connection=local\n' >"$work/inventory.ini"
ansible-playbook -i "$work/inventory.ini" --syntax-check "$repo/deploy/ansible/site.yml" >"$work/syntax.log" 2>&1 ||
  { cat "$work/syntax.log"; fail "ansible-playbook --syntax-check"; }
echo "ok:   ansible-playbook --syntax-check site.yml"

(cd "$repo/deploy/ansible" && ansible-lint --offline --nocolor site.yml roles/pgsluice) >"$work/lint.log" 2>&1 ||
  { cat "$work/lint.log"; fail "ansible-lint"; }
echo "ok:   ansible-lint"

run_config() {
  ansible-playbook -i localhost, "$repo/tests/deploy/ansible_config.yml" \
    -e "pgsluice_etc=$work/etc pgsluice_bin=$binary pgsluice_group=$(id -gn) pgsluice_systemd=false" \
    -e '{"pgsluice_environment": {"APP_PASSWORD": "ansible-test-secret"}}' "$@" >"$work/run.log" 2>&1
}
run_config || { cat "$work/run.log"; fail "the role's config tasks with the defaults"; }
APP_PASSWORD=x "$binary" check -c "$work/etc/pgsluice.yaml" >/dev/null || fail "the written config does not check"
grep -q 'pool_size: 20' "$work/etc/pgsluice.yaml" || fail "the written config lacks the default pool_size"
[[ $(stat -c %a "$work/etc/pgsluice.env") == 600 ]] || fail "the env file is not mode 0600"
echo "ok:   the role writes a config that pgsluice check accepts"

if run_config -e '{"pgsluice_pool_size": 0}'; then
  fail "a config with pool_size 0 was written"
fi
grep -q 'failed to validate' "$work/run.log" || { cat "$work/run.log"; fail "the refusal does not come from validate"; }
grep -q 'pool_size: 20' "$work/etc/pgsluice.yaml" || fail "the refused config replaced the good one"
if grep -rq ansible-test-secret "$work/run.log"; then fail "the password is in ansible's output"; fi
echo "ok:   a config that pgsluice check refuses is never written"
