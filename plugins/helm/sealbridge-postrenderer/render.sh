#!/bin/sh
# Helm 4 post-renderer: the rendered manifests on stdin, the resolved ones on stdout.
exec "${SEALBRIDGE_BIN:-sealbridge}" render -
