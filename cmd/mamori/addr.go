package main

import (
	"net/mail"
	"strings"
)

// addresses extracts the addresses of an address-list header; a header
// that does not parse yields what can be salvaged between angle brackets.
func addresses(v string) []string {
	if v == "" {
		return nil
	}
	list, err := mail.ParseAddressList(v)
	if err == nil {
		out := make([]string, 0, len(list))
		for _, a := range list {
			out = append(out, a.Address)
		}
		return out
	}
	var out []string
	for _, part := range strings.Split(v, ",") {
		if a := firstAddress(part); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// firstAddress returns the address in "Name <a@b>", "<a@b>" or "a@b".
func firstAddress(v string) string {
	v = strings.TrimSpace(v)
	if i := strings.LastIndexByte(v, '<'); i >= 0 {
		if j := strings.IndexByte(v[i:], '>'); j > 0 {
			return strings.TrimSpace(v[i+1 : i+j])
		}
	}
	if strings.Contains(v, "@") && !strings.ContainsAny(v, " \t") {
		return v
	}
	return ""
}
