// Command pause is the real node's Pod sandbox process: it holds the Pod's namespaces open,
// reaps the zombies that end up with it, and exits on SIGINT or SIGTERM. It does what
// Kubernetes' own pause (build/pause/linux/pause.c) does, and is built here because no image
// can be pulled on this machine.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-v" {
		os.Stdout.WriteString("sandboxmesh pause 1\n")
		return
	}
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for sig := range signals {
		if sig != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
