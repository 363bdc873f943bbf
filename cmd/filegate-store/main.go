// Command filegate-store is filegate's embedded S3-compatible store
// (versitygw on local disk). filegate starts it as a child process and
// sends its configuration on standard input; it is not meant to be run by
// hand. Build it beside filegate: go build -o DIR/ ./cmd/...
package main

import (
	"fmt"
	"os"

	"github.com/filegate/filegate/embedded/gateway"
)

func main() {
	if err := gateway.Run(os.Stdin); err != nil {
		fmt.Fprintln(os.Stderr, "filegate-store:", err)
		os.Exit(1)
	}
}
