package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/carepath/carepath/codec"
)

// runCodec implements `carepath codec keygen ID`: it prints a new random
// payload encryption key as "ID:base64", the form CAREPATH_CODEC_KEYS takes.
// To rotate, append the new key to the ring and make it the active one.
func runCodec(out io.Writer, args []string) error {
	if len(args) != 2 || args[0] != "keygen" {
		return errors.New("codec: usage: carepath codec keygen ID")
	}
	k, err := codec.GenerateKey(args[1])
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintln(out, k.Export()); err != nil {
		return fmt.Errorf("codec keygen: write key: %w", err)
	}
	return nil
}
