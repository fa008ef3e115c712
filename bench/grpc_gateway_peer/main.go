// grpc_gateway_peer: the grpc-gateway (v1 API, Debian's 1.6.4) benchmark peer.
//
// It serves bench.v1.Firehose.Stream as GET /v1/firehose (mapping from
// firehose_gateway.yaml) and forwards each call to the firehose backend.
// Query parameters rate, count, payload_bytes and after_seq fill the
// StreamRequest; the response is grpc-gateway's streaming format:
// newline-delimited JSON, one {"result":{...}} object per Event.
//
// Built by build.sh, offline, from Debian packages only.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"

	"github.com/grpc-ecosystem/grpc-gateway/runtime"
	"google.golang.org/grpc"

	firehosepb "ssegateway.bench/grpc_gateway_peer/firehosepb"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:18082", "HTTP listen address")
	backend := flag.String("backend", "127.0.0.1:50061", "firehose backend gRPC address")
	flag.Parse()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	mux := runtime.NewServeMux()
	opts := []grpc.DialOption{grpc.WithInsecure()}
	if err := firehosepb.RegisterFirehoseHandlerFromEndpoint(ctx, mux, *backend, opts); err != nil {
		fmt.Fprintf(os.Stderr, "grpc_gateway_peer: register: %v\n", err)
		os.Exit(1)
	}

	// Listen first so the readiness line is printed only once the port is
	// bound; then serve exactly as http.ListenAndServe would.
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(os.Stderr, "grpc_gateway_peer: listen: %v\n", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "grpc_gateway_peer listening on %s\n", ln.Addr().String())
	if err := http.Serve(ln, mux); err != nil {
		fmt.Fprintf(os.Stderr, "grpc_gateway_peer: serve: %v\n", err)
		os.Exit(1)
	}
}
