package api

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
)

// The list convention, the same on every list route (README "Lists"):
//
//	?limit=N     items per page, 1 to maxLimit (default defaultLimit)
//	?sort=F      a field the route allows; "-F" sorts descending
//	?cursor=C    the next_cursor of the previous page, opaque
//	filters      named query parameters of each route
//
// and the answer is {"items": [...], "next_cursor": "..." or null}. Cursors
// are keyset positions (the sort value and ID of the last item served), so
// a page never repeats or skips an item because others were added before
// it. A cursor is valid only with the sort it was made for.
const (
	defaultLimit = 20
	maxLimit     = 100
)

// listParams are a list request's paging and sorting.
type listParams struct {
	limit int
	sort  string // as asked, "-" included
	after *cursor
}

// cursor is the position after which the next page starts.
type cursor struct {
	Sort string `json:"s"`
	Key  string `json:"k"`
	ID   string `json:"i"`
}

// listPage is the answer of every list route.
type listPage[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

// sortKeys maps each sortable field to a string that orders as the field
// does (times in fixed-width UTC, numbers zero-padded).
type sortKeys[T any] map[string]func(T) string

// parseList reads limit, sort and cursor; an invalid one is a 400 problem
// naming the parameter.
func parseList[T any](c *gin.Context, keys sortKeys[T], defaultSort string) (listParams, error) {
	p := listParams{limit: defaultLimit, sort: defaultSort}
	if raw, ok := c.GetQuery("limit"); ok {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > maxLimit {
			return p, &parameterError{name: "limit", detail: fmt.Sprintf("must be a whole number from 1 to %d", maxLimit)}
		}
		p.limit = n
	}
	if raw, ok := c.GetQuery("sort"); ok {
		if _, known := keys[strings.TrimPrefix(raw, "-")]; !known {
			return p, &parameterError{name: "sort", detail: "must be one of " + strings.Join(sortChoices(keys), ", ")}
		}
		p.sort = raw
	}
	if raw, ok := c.GetQuery("cursor"); ok {
		after, err := decodeCursor(raw)
		if err != nil || after.Sort != p.sort {
			return p, &parameterError{name: "cursor", detail: "is not a next_cursor this list gave out for sort=" + p.sort}
		}
		p.after = &after
	}
	return p, nil
}

// sortChoices lists the accepted sort values, ascending and descending.
func sortChoices[T any](keys sortKeys[T]) []string {
	var out []string
	for _, f := range slices.Sorted(maps.Keys(keys)) {
		out = append(out, f, "-"+f)
	}
	return out
}

// paginate sorts items by the asked field (ID breaking ties), skips those up
// to the cursor and answers one page.
func paginate[T any](items []T, p listParams, keys sortKeys[T], id func(T) string) listPage[T] {
	field, desc := strings.CutPrefix(p.sort, "-")
	key := keys[field]
	compare := func(ka, ia, kb, ib string) int {
		r := cmp.Or(strings.Compare(ka, kb), strings.Compare(ia, ib))
		if desc {
			return -r
		}
		return r
	}
	sorted := slices.Clone(items)
	slices.SortStableFunc(sorted, func(a, b T) int { return compare(key(a), id(a), key(b), id(b)) })
	start := 0
	if p.after != nil {
		start = len(sorted)
		for i, it := range sorted {
			if compare(key(it), id(it), p.after.Key, p.after.ID) > 0 {
				start = i
				break
			}
		}
	}
	end := min(start+p.limit, len(sorted))
	out := listPage[T]{Items: sorted[start:end]}
	if end < len(sorted) {
		last := sorted[end-1]
		next := encodeCursor(cursor{Sort: p.sort, Key: key(last), ID: id(last)})
		out.NextCursor = &next
	}
	return out
}

func encodeCursor(c cursor) string {
	raw, _ := json.Marshal(c) // three strings: cannot fail
	return base64.RawURLEncoding.EncodeToString(raw)
}

func decodeCursor(s string) (cursor, error) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return cursor{}, err
	}
	var c cursor
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return cursor{}, err
	}
	return c, nil
}

// filterParam reads an optional filter and checks it with valid.
func filterParam(c *gin.Context, name string, valid func(string) bool, want string) (string, error) {
	v, ok := c.GetQuery(name)
	if !ok {
		return "", nil
	}
	if !valid(v) {
		return "", &parameterError{name: name, detail: "must be " + want}
	}
	return v, nil
}
