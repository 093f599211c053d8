// Command testuser registers a staff user with a fresh random password in
// the database DATABASE_OWNER_URL names (migrated as that owner), and prints the password, so that a test
// script (scripts/schemathesis.sh) can sign in over HTTP like anyone else.
// For test databases only: it refuses to run unless CAREPATH_ENV=local.
//
//	go run ./internal/testenv/testuser -email fuzz-admin@test.invalid -role admin
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/google/uuid"

	"github.com/carepath/carepath/auth"
	"github.com/carepath/carepath/config"
	"github.com/carepath/carepath/store"
)

func main() {
	email := flag.String("email", "", "the user's email")
	role := flag.String("role", auth.RoleAdmin, "the user's role (not patient, doctor or dietitian: those need a record)")
	flag.Parse()
	if err := run(*email, *role); err != nil {
		fmt.Fprintln(os.Stderr, "testuser:", err)
		os.Exit(1)
	}
}

func run(email, role string) error {
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	if cfg.Env != "local" || email == "" {
		return errors.New("set CAREPATH_ENV=local and -email")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The owner migrates (and grants DATABASE_URL's role its rights) and
	// registers the user.
	s, err := store.Open(ctx, cfg.DatabaseOwnerURL)
	if err != nil {
		return err
	}
	defer s.Close()
	s.AppRole = cfg.AppRole()
	if _, err := s.Migrate(ctx); err != nil {
		return err
	}
	a, err := auth.New(auth.Options{Pool: s.Pool, MasterKey: cfg.AuthMasterKey, Issuer: cfg.PublicBaseURL})
	if err != nil {
		return err
	}
	secret := make([]byte, 16)
	if _, err := rand.Read(secret); err != nil {
		return err
	}
	password := hex.EncodeToString(secret)
	// The same email always gets the same ID, so running again updates the user.
	id := uuid.NewSHA1(uuid.NameSpaceURL, []byte("carepath-testuser:"+email)).String()
	if _, err := a.UpsertUser(ctx, auth.NewUser{ID: id, Email: email, Password: password, Role: role}); err != nil {
		return err
	}
	fmt.Println(password)
	return nil
}
