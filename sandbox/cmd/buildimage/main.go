// Command buildimage builds the default sandbox image (what `replay sandbox
// build` does), for machines preparing to run the sandbox tests (see
// sandbox/ci-prepare.sh). It reads DOCKER_HOST and friends from the
// environment.
//
//	go run ./sandbox/cmd/buildimage [-busybox PATH] [-tag TAG] [-force]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/agentreplay/replay/sandbox"
)

func main() {
	var opts sandbox.BuildOptions
	flag.StringVar(&opts.Busybox, "busybox", "", "path of a static busybox (default: /bin/busybox, /usr/bin/busybox or PATH)")
	flag.StringVar(&opts.Tag, "tag", sandbox.DefaultImage, "image tag")
	flag.BoolVar(&opts.Force, "force", false, "rebuild even if an identical image exists")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cli, err := sandbox.NewClient(ctx, sandbox.ClientOptionsFromEnv(os.Getenv))
	if err != nil {
		fmt.Fprintln(os.Stderr, "buildimage:", err)
		os.Exit(1)
	}
	defer cli.Close()
	res, err := sandbox.BuildImage(ctx, cli, opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "buildimage:", err)
		os.Exit(1)
	}
	what := "built"
	if res.Reused {
		what = "up to date"
	}
	fmt.Printf("%s %s (%.19s, busybox %s, programs %v)\n", what, res.Tag, res.ID, res.Busybox, res.Programs)
	for _, m := range res.Missing {
		fmt.Fprintf(os.Stderr, "note: not in the image: %s\n", m)
	}
}
