package config

import "testing"

// Locally the two roles have their own defaults; a deployment that sets
// only DATABASE_URL migrates as that role, as before the split; setting
// both keeps them apart.
func TestDatabaseOwnerURLDefaults(t *testing.T) {
	for _, tc := range []struct {
		name       string
		env        map[string]string
		app, owner string
		appRole    string
	}{
		{"local defaults", map[string]string{"CAREPATH_ENV": "local"}, DefaultDatabaseURL, DefaultDatabaseOwnerURL, "carepath_app"},
		{"only DATABASE_URL", map[string]string{"DATABASE_URL": "postgres://care:p@db:5432/care"},
			"postgres://care:p@db:5432/care", "postgres://care:p@db:5432/care", "care"},
		{"both", map[string]string{"DATABASE_URL": "postgres://api:p@db:5432/care", "DATABASE_OWNER_URL": "postgres://own:q@db:5432/care"},
			"postgres://api:p@db:5432/care", "postgres://own:q@db:5432/care", "api"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := FromLookup(lookupFrom(tc.env))
			if err != nil {
				t.Fatal(err)
			}
			if cfg.DatabaseURL != tc.app || cfg.DatabaseOwnerURL != tc.owner || cfg.AppRole() != tc.appRole {
				t.Errorf("DATABASE_URL %q, DATABASE_OWNER_URL %q, app role %q; want %q, %q, %q",
					cfg.DatabaseURL, cfg.DatabaseOwnerURL, cfg.AppRole(), tc.app, tc.owner, tc.appRole)
			}
		})
	}
	if _, err := FromLookup(lookupFrom(map[string]string{"DATABASE_OWNER_URL": "not a url"})); err == nil {
		t.Error("a bad DATABASE_OWNER_URL was accepted")
	}
	if got := WithUser("postgres://carepath:carepath@127.0.0.1:5432/carepath_test?sslmode=disable", DefaultAppRole, LocalAppPassword); got !=
		"postgres://carepath_app:carepath_app@127.0.0.1:5432/carepath_test?sslmode=disable" {
		t.Errorf("WithUser = %q", got)
	}
}
