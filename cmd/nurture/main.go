// Command nurture is Terraform for B2B email lead nurture.
package main

import (
	"os"

	"github.com/nurture-dev/nurture/cmd/nurture/cli"
)

func main() { os.Exit(cli.Main()) }
