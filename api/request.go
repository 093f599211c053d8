package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/gin-gonic/gin"
)

// Parse once. Every request on a route that is not public is read here,
// once, before the access layer (authorize) looks at it, and refused when
// two readers could disagree about what it says:
//
//   - a query parameter or form field given twice (one reader takes the
//     first, another the last);
//   - a JSON body with data after its value, a key given twice, or two keys
//     that differ only in case (encoding/json matches keys without regard
//     to case, a map lookup does not);
//   - an ID that is not written in its one canonical form: a UUID in upper
//     case, in braces, behind "urn:uuid:", with spaces or control
//     characters around it (PostgreSQL and uuid.Parse accept all of these,
//     the access layer's checks accept only the canonical form);
//   - an ID given both in the query and in the body.
//
// What is left has one meaning. The access layer reads the patient a
// request names from the values kept here (parsedRequest), and handlers
// read the same values: path parameters and the query are canonical as
// sent, and the body they decode (decodeStrict) is the body checked here,
// under the same rules.

// parsedCtxKey holds the request's parsedRequest.
const parsedCtxKey = "carepath.request"

// parsedRequest is what parseRequest read of one request.
type parsedRequest struct {
	// query holds each query parameter (each given once, but for the
	// list parameters in repeatableQuery, whose first value is kept).
	query map[string]string
	// body is the body as sent, unless it was a multipart form.
	body []byte
	// members are the top-level members of a JSON object body.
	members map[string]json.RawMessage
	// form holds the fields of a form body (urlencoded or multipart).
	form map[string]string
}

// repeatableQuery are the query parameters that take a list by
// repetition (listParam); every other parameter is given at most once.
var repeatableQuery = map[string]bool{"drugs": true, "conditions": true, "allergies": true}

// parseRequest is the middleware that parses every non-public request once.
func (s *Server) parseRequest(c *gin.Context) {
	policy, ok := policies[c.Request.Method+" "+c.FullPath()]
	if c.FullPath() == "" || !ok || policy.public {
		// Public routes (sign-in, webhooks, the codec) read their own
		// bodies and touch no patient's data through the access layer.
		c.Next()
		return
	}
	req, err := parseParts(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.Set(parsedCtxKey, req)
	c.Next()
}

// parsedFrom is the request parseRequest kept; nil on public routes.
func parsedFrom(c *gin.Context) *parsedRequest {
	v, ok := c.Get(parsedCtxKey)
	if !ok {
		return nil
	}
	req, _ := v.(*parsedRequest)
	return req
}

func parseParts(c *gin.Context) (*parsedRequest, error) {
	req := &parsedRequest{query: map[string]string{}}
	for _, p := range c.Params {
		if isIDName(p.Key) {
			if why := nonCanonicalID(p.Value); why != "" {
				return nil, &notFoundError{detail: "path parameter " + p.Key + ": " + why}
			}
		}
	}
	for name, values := range c.Request.URL.Query() {
		if len(values) > 1 && !repeatableQuery[name] {
			return nil, &parameterError{name: name, detail: "give this parameter once"}
		}
		if err := checkParamName(name); err != nil {
			return nil, err
		}
		if isIDName(name) {
			if why := nonCanonicalID(values[0]); why != "" {
				return nil, &parameterError{name: name, detail: why}
			}
		}
		req.query[name] = values[0]
	}
	if err := req.readBody(c); err != nil {
		return nil, err
	}
	for name := range req.bodyNames() {
		if _, inQuery := req.query[name]; inQuery && isIDName(name) {
			return nil, &parameterError{name: name, detail: "given in both the query and the body; give it once"}
		}
	}
	return req, nil
}

// readBody reads a form or JSON body and checks it; other bodies (a
// document upload) are the handler's to read.
func (req *parsedRequest) readBody(c *gin.Context) error {
	mediaType, _, _ := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if mediaType == "multipart/form-data" {
		// gin's MultipartForm keeps the parts in memory (a document
		// upload is health data: it never goes to a temporary file), and
		// the handler gets the same parsed form back.
		form, err := c.MultipartForm()
		if err != nil {
			return &malformedError{detail: "the form cannot be read: " + err.Error()}
		}
		return req.readForm(form.Value)
	}
	raw, err := io.ReadAll(c.Request.Body)
	if err != nil {
		return bodyReadError(err)
	}
	// The handler, and the idempotency middleware, read the same bytes.
	c.Request.Body = io.NopCloser(bytes.NewReader(raw))
	req.body = raw
	switch {
	case mediaType == "application/x-www-form-urlencoded":
		form, err := url.ParseQuery(string(raw))
		if err != nil {
			return &malformedError{detail: "the form cannot be read: " + err.Error()}
		}
		return req.readForm(form)
	case len(bytes.TrimSpace(raw)) == 0:
		return nil
	case mediaType == "" || mediaType == "application/json" || strings.HasSuffix(mediaType, "+json"):
		members, err := checkJSON(raw)
		if err != nil {
			return err
		}
		req.members = members
	}
	return nil
}

func (req *parsedRequest) readForm(form map[string][]string) error {
	req.form = make(map[string]string, len(form))
	for name, values := range form {
		if len(values) > 1 {
			return &parameterError{name: name, detail: "give this field once"}
		}
		if err := checkParamName(name); err != nil {
			return err
		}
		if !usableText(name) || (len(values) == 1 && !usableText(values[0])) {
			return &invalidError{fields: []FieldError{{Pointer: "/" + strings.ToValidUTF8(strings.ReplaceAll(name, "\x00", ""), ""),
				Detail: "holds a NUL byte or is not UTF-8"}}}
		}
		if len(values) == 1 && isIDName(name) {
			if why := nonCanonicalID(values[0]); why != "" {
				return &parameterError{name: name, detail: why}
			}
		}
		if len(values) == 1 {
			req.form[name] = values[0]
		}
	}
	return nil
}

// bodyNames are the names the body gives (a JSON object's keys or a form's fields).
func (req *parsedRequest) bodyNames() map[string]bool {
	out := map[string]bool{}
	for k := range req.members {
		out[k] = true
	}
	for k := range req.form {
		out[k] = true
	}
	return out
}

// bodyString is a top-level body member or form field given as text:
// present reports whether the body names it at all.
func (req *parsedRequest) bodyString(name string) (value string, present bool, err error) {
	if v, ok := req.form[name]; ok {
		return v, true, nil
	}
	raw, ok := req.members[name]
	if !ok {
		return "", false, nil
	}
	if err := json.Unmarshal(raw, &value); err != nil {
		return "", true, &invalidError{fields: []FieldError{{Pointer: "/" + name, Detail: "must be a string"}}}
	}
	return value, true, nil
}

// checkParamName refuses a parameter named like an ID in another case
// (PATIENT_ID): no handler reads it, so it would be ignored.
func checkParamName(name string) error {
	if lower := strings.ToLower(name); lower != name && isIDName(lower) {
		return &parameterError{name: name, detail: "parameter names are lower case: write " + lower}
	}
	return nil
}

// isIDName reports whether a parameter holds an ID: "id", a name ending
// in "_id", and the path's rid, cid and kid.
func isIDName(name string) bool {
	switch name {
	case "id", "rid", "cid", "kid":
		return true
	}
	return strings.HasSuffix(name, "_id")
}

// anyCaseUUID finds a UUID's 32 hex digits in any case, with or without
// hyphens, standing alone (not inside a longer run, such as a hash).
var anyCaseUUID = regexp.MustCompile(`(?i)\b[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}\b`)

// nonCanonicalID says why v is not an ID in its canonical form, or "" when
// it is (or when it is no ID CarePath issues). CarePath's IDs are UUIDs, or
// hold one (journey:PATIENT:...), always in lower case with hyphens; such an
// ID never has spaces, braces or a "urn:uuid:" prefix. No ID has control
// characters. IDs of other issuers (a device's, a pathway's slug) are left
// to the handler, which checks their shape and answers 422.
func nonCanonicalID(v string) string {
	const want = "IDs are written in lower case, with no braces, prefix, spaces or control characters"
	if len(v) > 256 {
		return "must be an ID of at most 256 characters"
	}
	if strings.ContainsFunc(v, unicode.IsControl) {
		return want
	}
	matches := anyCaseUUID.FindAllString(v, -1)
	if len(matches) == 0 {
		return ""
	}
	if strings.ContainsFunc(v, func(r rune) bool { return unicode.IsSpace(r) || r == '{' || r == '}' }) ||
		strings.Contains(strings.ToLower(v), "urn:uuid:") {
		return want
	}
	for _, m := range matches {
		if len(m) != 36 || m != strings.ToLower(m) {
			return want
		}
	}
	return ""
}

// maxJSONDepth bounds nesting, so a hostile body cannot exhaust the stack.
const maxJSONDepth = 64

// checkJSON reads exactly one JSON value and refuses duplicate keys, keys
// that differ only in case, and non-canonical IDs anywhere in it. It
// returns the members of an object body.
func checkJSON(raw []byte) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	var top json.RawMessage
	if err := dec.Decode(&top); err != nil {
		var syntaxErr *json.SyntaxError
		if errors.As(err, &syntaxErr) {
			return nil, &malformedError{detail: fmt.Sprintf("the body is not valid JSON (at byte %d): %v", syntaxErr.Offset, err)}
		}
		return nil, &malformedError{detail: "the body is not valid JSON: " + err.Error()}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, &malformedError{detail: "the body holds data after its JSON value; send exactly one JSON value"}
	}
	if err := walkJSON(top, "", "", 0); err != nil {
		return nil, err
	}
	var members map[string]json.RawMessage
	if json.Unmarshal(top, &members) != nil {
		return nil, nil // not an object: the handler says what it wants
	}
	return members, nil
}

// walkJSON checks one value at the JSON pointer ptr, whose member name is key.
func walkJSON(raw json.RawMessage, ptr, key string, depth int) error {
	if depth > maxJSONDepth {
		return &malformedError{detail: fmt.Sprintf("the body nests deeper than %d levels", maxJSONDepth)}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil {
		return &malformedError{detail: "the body is not valid JSON: " + err.Error()}
	}
	switch tok {
	case json.Delim('{'):
		seen := map[string]string{} // folded key -> key as written
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return &malformedError{detail: "the body is not valid JSON: " + err.Error()}
			}
			name, _ := kt.(string)
			at := ptr + "/" + pointerEscape(name)
			if prev, dup := seen[strings.ToLower(name)]; dup {
				if prev == name {
					return &malformedError{detail: "the key " + at + " is given twice"}
				}
				return &invalidError{fields: []FieldError{{Pointer: at, Detail: fmt.Sprintf("differs only in case from %q; give the key once, as the document spells it", prev)}}}
			}
			seen[strings.ToLower(name)] = name
			if lower := strings.ToLower(name); lower != name && isIDName(lower) {
				return &invalidError{fields: []FieldError{{Pointer: at, Detail: "keys are lower case: write " + lower}}}
			}
			var v json.RawMessage
			if err := dec.Decode(&v); err != nil {
				return &malformedError{detail: "the body is not valid JSON: " + err.Error()}
			}
			if err := walkJSON(v, at, name, depth+1); err != nil {
				return err
			}
		}
	case json.Delim('['):
		for i := 0; dec.More(); i++ {
			var v json.RawMessage
			if err := dec.Decode(&v); err != nil {
				return &malformedError{detail: "the body is not valid JSON: " + err.Error()}
			}
			if err := walkJSON(v, ptr+"/"+strconv.Itoa(i), key, depth+1); err != nil {
				return err
			}
		}
	default:
		if s, ok := tok.(string); ok && isIDName(key) {
			if why := nonCanonicalID(s); why != "" {
				return &parameterError{name: ptr, detail: why}
			}
		}
	}
	return nil
}

func pointerEscape(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// decodeStrict reads exactly one JSON value into dst under the rules of
// checkJSON, and refuses unknown fields and keys written in another case
// than the field's (encoding/json would take them; the access layer's
// exact lookup would not).
func decodeStrict(body io.Reader, dst any) error {
	raw, err := io.ReadAll(body)
	if err != nil {
		return bodyReadError(err)
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return &malformedError{detail: "the body is empty; send a JSON object"}
	}
	if _, err := checkJSON(raw); err != nil {
		return err
	}
	if fields := keyCaseErrors(raw, reflect.TypeOf(dst), ""); len(fields) > 0 {
		return &invalidError{fields: fields}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.As(err, &typeErr):
			return &invalidError{fields: []FieldError{{Pointer: "/" + strings.ReplaceAll(typeErr.Field, ".", "/"), Detail: "must be a " + typeErr.Type.String()}}}
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			return &invalidError{fields: []FieldError{{Pointer: "/" + name, Detail: "is not a field of this request"}}}
		default:
			return &malformedError{detail: "the body is not valid JSON for this operation: " + err.Error()}
		}
	}
	return nil
}

// keyCaseErrors finds the keys of raw that name a field of t in another case.
func keyCaseErrors(raw json.RawMessage, t reflect.Type, ptr string) []FieldError {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || reflect.PointerTo(t).Implements(reflect.TypeFor[json.Unmarshaler]()) {
		return nil
	}
	switch t.Kind() {
	case reflect.Slice, reflect.Array:
		var items []json.RawMessage
		if json.Unmarshal(raw, &items) != nil {
			return nil
		}
		var out []FieldError
		for i, item := range items {
			out = append(out, keyCaseErrors(item, t.Elem(), ptr+"/"+strconv.Itoa(i))...)
		}
		return out
	case reflect.Struct:
		var members map[string]json.RawMessage
		if json.Unmarshal(raw, &members) != nil {
			return nil
		}
		fields := jsonFields(t)
		var out []FieldError
		for _, name := range slices.Sorted(maps.Keys(members)) {
			if ft, ok := fields[name]; ok {
				out = append(out, keyCaseErrors(members[name], ft, ptr+"/"+pointerEscape(name))...)
				continue
			}
			for field := range fields {
				if strings.EqualFold(field, name) {
					out = append(out, FieldError{Pointer: ptr + "/" + pointerEscape(name), Detail: fmt.Sprintf("write this key as %q", field)})
				}
			}
		}
		return out
	}
	return nil
}

// jsonFields are the JSON names of t's fields (embedded structs' too) and their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for k, v := range jsonFields(ft) {
					out[k] = v
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}
