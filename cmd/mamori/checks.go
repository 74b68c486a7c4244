package main

// The built-in checks: internal/builtin lists them (tests that must judge
// as the binary does import the same list).
import _ "github.com/mamori-mail/mamori/internal/builtin"
