// Command fakemodel serves a scripted OpenAI-compatible endpoint, for trying
// `replay run` without a model or an API key:
//
//	go run ./internal/tools/fakemodel -script testdata/example/fake-model.json -addr 127.0.0.1:8089 &
//	replay run testdata/example/run --base-url http://127.0.0.1:8089/v1 --model fake-reviewer
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"

	"github.com/agentreplay/replay/internal/fakemodel"
)

func main() {
	script := flag.String("script", "", "the script (JSON) to answer from")
	addr := flag.String("addr", "127.0.0.1:8089", "address to listen on")
	flag.Parse()
	s, err := fakemodel.Load(*script)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fakemodel:", err)
		os.Exit(2)
	}
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fakemodel:", err)
		os.Exit(2)
	}
	fmt.Fprintf(os.Stderr, "fakemodel: answering at http://%s/v1\n", l.Addr())
	if err := http.Serve(l, &fakemodel.Server{Script: s}); err != nil {
		fmt.Fprintln(os.Stderr, "fakemodel:", err)
		os.Exit(1)
	}
}
