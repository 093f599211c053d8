package devstack

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/carepath/carepath/codec"
	"github.com/carepath/carepath/config"
)

// codecEndpoint is the API's codec URL as a browser on this machine reaches
// it: the Temporal UI calls it from the coordinator's browser.
func (s *Stack) codecEndpoint() string {
	host, port, err := net.SplitHostPort(s.cfg.APIAddr)
	if err != nil {
		host, port = "127.0.0.1", "8080"
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/api/codec"
}

// CodecKeyFile is where the stack keeps its payload encryption key.
func (s *Stack) CodecKeyFile() string {
	return filepath.Join(s.dataDir, filepath.FromSlash(config.LocalCodecKeyFile))
}

// ProgramEnv is the environment the worker and the API get on top of the
// launcher's own: the payload encryption keys. Keys the operator set in
// CAREPATH_CODEC_KEYS win; otherwise the stack's own key, generated on the
// first run and kept with the data it protects, so journeys written
// before a restart stay readable after it.
func (s *Stack) ProgramEnv() ([]string, error) {
	if strings.TrimSpace(os.Getenv("CAREPATH_CODEC_KEYS")) != "" {
		return nil, nil
	}
	keys, err := s.ensureCodecKey()
	if err != nil {
		return nil, err
	}
	return []string{"CAREPATH_CODEC_KEYS=" + keys}, nil
}

// ensureCodecKey reads the stack's key file, creating it with a new random
// key when it does not exist. The folder is 0700 and the file 0600. The
// key is written to a temporary file and hard-linked into place, which
// fails if the file exists: two launchers racing on a first run agree on
// one key, and neither ever reads a half-written file.
func (s *Stack) ensureCodecKey() (string, error) {
	path := s.CodecKeyFile()
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		if err := s.writeCodecKey(path); err != nil {
			return "", err
		}
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("codec key: %w", err)
	}
	keys, err := codec.ParseKeys(string(raw))
	if err != nil {
		return "", fmt.Errorf("codec key file %s: %w", s.rel(path), err)
	}
	return codec.FormatKeys(keys), nil
}

func (s *Stack) writeCodecKey(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("codec key: %w", err)
	}
	k, err := codec.GenerateKey("local-" + time.Now().UTC().Format("20060102"))
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".codec-keys-*")
	if err != nil {
		return fmt.Errorf("codec key: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, werr := tmp.WriteString(k.Export() + "\n")
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return fmt.Errorf("codec key: write: %w", werr)
	}
	// CreateTemp makes the file 0600 already.
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil // another launcher won the race; use its key
		}
		return fmt.Errorf("codec key: %w", err)
	}
	s.progress("codec", "generated a payload encryption key in %s (keep it: the journeys in .data/temporal need it)", s.rel(path))
	return nil
}
