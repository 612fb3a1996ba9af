//go:build tools

// Package tools pins crictl, which `dev cluster down` uses to stop the real node's Pods through
// the CRI (so the CNI plugins release their addresses and rules) before containerd stops.
package tools

import _ "sigs.k8s.io/cri-tools/cmd/crictl"
