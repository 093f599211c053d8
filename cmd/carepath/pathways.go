package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/carepath/carepath/pathways"
)

// runPathways implements `carepath pathways validate FILE...` (every problem
// with file:line:column; exit status 1 if any) and `carepath pathways list`.
func runPathways(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: carepath pathways validate FILE... | carepath pathways list")
		return 2
	}
	switch args[0] {
	case "validate":
		if len(args) < 2 {
			fmt.Fprintln(stderr, "usage: carepath pathways validate FILE...")
			return 2
		}
		failed := 0
		for _, path := range args[1:] {
			plan, err := pathways.LoadFile(path)
			var problems pathways.Problems
			switch {
			case errors.As(err, &problems):
				failed++
				for _, p := range problems {
					fmt.Fprintln(stderr, p)
				}
			case err != nil:
				failed++
				fmt.Fprintln(stderr, err)
			default:
				fmt.Fprintf(stdout, "%s: ok (%s, %d steps)\n", path, plan.Key(), len(plan.Steps))
			}
		}
		if failed > 0 {
			return 1
		}
		return 0
	case "list":
		catalog, err := pathways.Shipped()
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		for _, id := range catalog.IDs() {
			for _, p := range catalog.Versions(id) {
				fmt.Fprintf(stdout, "%-20s v%d  %s\n", id, p.Version, p.Title)
			}
		}
		return 0
	default:
		fmt.Fprintf(stderr, "carepath pathways: unknown subcommand %q\n", args[0])
		return 2
	}
}
