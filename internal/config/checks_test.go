package config

// Judge with every built-in check, as the binary does: the default rule
// set names their symbols.
import _ "github.com/mamori-mail/mamori/internal/builtin"
