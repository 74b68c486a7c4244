package check

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"
)

// ConfigError is one configuration problem, with the line it is on so that
// an operator can go straight to it. The loader adds the file name.
type ConfigError struct {
	// File is set when the problem is in a file the configuration points
	// to (a rule file) rather than in the configuration file itself.
	File string
	Line int
	Path string // dotted field path, "checks.policy.entries[2].client_ip"
	Msg  string
}

func (e *ConfigError) Error() string {
	if e.File != "" {
		c := *e
		c.File = ""
		if c.Line > 0 {
			return fmt.Sprintf("%s:%d: %s", e.File, c.Line, strings.TrimPrefix(c.Error(), fmt.Sprintf("line %d: ", c.Line)))
		}
		return e.File + ": " + c.Error()
	}
	switch {
	case e.Line > 0 && e.Path != "":
		return fmt.Sprintf("line %d: %s: %s", e.Line, e.Path, e.Msg)
	case e.Line > 0:
		return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
	case e.Path != "":
		return e.Path + ": " + e.Msg
	}
	return e.Msg
}

// Errorf returns a ConfigError positioned at node (which may be nil).
func Errorf(node *yaml.Node, path, format string, args ...any) *ConfigError {
	e := &ConfigError{Path: path, Msg: fmt.Sprintf(format, args...)}
	if node != nil {
		e.Line = node.Line
	}
	return e
}

// DecodeStrict decodes node into out (a pointer to a struct) and, unlike
// yaml.v3's Node.Decode, refuses keys the struct does not declare, reporting
// every one with its line. path prefixes field paths in the errors.
func DecodeStrict(node *yaml.Node, out any, path string) error {
	if node == nil {
		return nil
	}
	var errs []error
	unknownKeys(node, reflect.TypeOf(out), path, &errs)
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if err := node.Decode(out); err != nil {
		return typeErrors(err, path)
	}
	return nil
}

// typeErrors turns yaml.v3's "line N: cannot unmarshal ..." list (and the
// errors of our own unmarshalers, which use the same form) into
// ConfigErrors, so that callers see one format.
func typeErrors(err error, path string) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return LineError(err.Error(), path)
	}
	errs := make([]error, 0, len(te.Errors))
	for _, s := range te.Errors {
		errs = append(errs, LineError(s, path))
	}
	return errors.Join(errs...)
}

// LineError parses yaml.v3's "yaml: line N: msg" form into a ConfigError.
func LineError(s, path string) *ConfigError {
	s = strings.TrimPrefix(s, "yaml: ")
	var line int
	if _, err := fmt.Sscanf(s, "line %d:", &line); err == nil {
		if _, rest, ok := strings.Cut(s, ": "); ok {
			s = rest
		}
	}
	return &ConfigError{Line: line, Path: path, Msg: s}
}

// yamlNodeType marks fields that keep a subtree undecoded, for sections whose
// schema belongs to a plug-in (each check's settings).
var yamlNodeType = reflect.TypeOf(yaml.Node{})

func unknownKeys(node *yaml.Node, t reflect.Type, path string, errs *[]error) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if node.Kind == yaml.DocumentNode && len(node.Content) == 1 {
		node = node.Content[0]
	}
	if node.Kind == yaml.AliasNode && node.Alias != nil {
		node = node.Alias
	}
	if t == yamlNodeType {
		return
	}
	if _, ok := reflect.New(t).Interface().(yaml.Unmarshaler); ok {
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if node.Kind != yaml.MappingNode {
			return // yaml.v3 reports the type mismatch itself
		}
		fields := structFields(t)
		for i := 0; i+1 < len(node.Content); i += 2 {
			k, v := node.Content[i], node.Content[i+1]
			if k.Value == "<<" {
				continue
			}
			ft, ok := fields[k.Value]
			if !ok {
				*errs = append(*errs, &ConfigError{Line: k.Line, Path: join(path, k.Value), Msg: "unknown field" + suggest(k.Value, fields)})
				continue
			}
			unknownKeys(v, ft, join(path, k.Value), errs)
		}
	case reflect.Slice, reflect.Array:
		if node.Kind != yaml.SequenceNode {
			return
		}
		for i, v := range node.Content {
			unknownKeys(v, t.Elem(), fmt.Sprintf("%s[%d]", path, i), errs)
		}
	case reflect.Map:
		if node.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(node.Content); i += 2 {
			unknownKeys(node.Content[i+1], t.Elem(), join(path, node.Content[i].Value), errs)
		}
	}
}

func structFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if strings.Contains(opts, "inline") {
			for k, v := range structFields(f.Type) {
				out[k] = v
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	return out
}

func suggest(key string, fields map[string]reflect.Type) string {
	best, bestD := "", 3
	for k := range fields {
		if d := editDistance(key, k); d < bestD {
			best, bestD = k, d
		}
	}
	if best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return ""
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// Field returns the value node of key in mapping node n, or nil: factories
// use it to find the line of a setting they found wrong.
func Field(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// Item returns the i-th item of sequence node n, or nil.
func Item(n *yaml.Node, i int) *yaml.Node {
	if n == nil || n.Kind != yaml.SequenceNode || i >= len(n.Content) {
		return nil
	}
	return n.Content[i]
}

// Errors flattens errors.Join trees into a list.
func Errors(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, Errors(e)...)
		}
		return out
	}
	return []error{err}
}

// InFile returns err with every ConfigError in it placed in file: for
// files the configuration points to (rule files, limit files), whose
// errors must not be reported against the configuration file's lines.
func InFile(err error, file string) error {
	if err == nil || file == "" {
		return err
	}
	var out []error
	for _, e := range Errors(err) {
		var ce *ConfigError
		if errors.As(e, &ce) {
			c := *ce
			c.File = file
			e = &c
		}
		out = append(out, e)
	}
	return errors.Join(out...)
}
