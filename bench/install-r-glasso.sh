#!/usr/bin/env bash
# Install R and the glasso package from Debian (r-base-core, r-cran-glasso) for the glasso-vs-R
# bench. Called by the bench only (never by tests); a no-op when Rscript can already load glasso.
# Skipped unless we are root (or have passwordless sudo) and apt-get exists.
set -euo pipefail
if command -v Rscript >/dev/null 2>&1 && Rscript -e 'suppressMessages(library(glasso))' >/dev/null 2>&1; then exit 0; fi
command -v apt-get >/dev/null 2>&1 || { echo "no apt-get: install R and the glasso package yourself" >&2; exit 1; }
SUDO=""
if [ "$(id -u)" != "0" ]; then
  if sudo -n true 2>/dev/null; then SUDO="sudo -n"; else echo "not root and no passwordless sudo: apt-get install r-base-core r-cran-glasso" >&2; exit 1; fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y --no-install-recommends r-base-core r-cran-glasso >/dev/null 2>&1 || { $SUDO apt-get update >/dev/null 2>&1 && $SUDO apt-get install -y --no-install-recommends r-base-core r-cran-glasso >/dev/null; }
