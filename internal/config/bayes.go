package config

import (
	"github.com/mamori-mail/mamori/reputation/bayes"
	"gopkg.in/yaml.v3"
)

// Bayes decodes checks.bayes as the daemon does, for the tools that write
// the classifier's tokens (mamori learn, the console's learning): the
// common keys (enabled, timeout, on_error) are the engine's, the rest
// bayes.ParseConfig's. enabled reports whether the daemon runs the check.
func (c *Config) Bayes(dataDir string) (bc bayes.Config, enabled bool, err error) {
	enabled = true // bayes is on by default
	var rest *yaml.Node
	if n, ok := c.Checks["bayes"]; ok && n.Kind == yaml.MappingNode {
		rest = &yaml.Node{Kind: yaml.MappingNode, Line: n.Line, Column: n.Column}
		for i := 0; i+1 < len(n.Content); i += 2 {
			switch n.Content[i].Value {
			case "enabled":
				var on bool
				if n.Content[i+1].Decode(&on) == nil {
					enabled = on
				}
			case "timeout", "on_error":
			default:
				rest.Content = append(rest.Content, n.Content[i], n.Content[i+1])
			}
		}
		if len(rest.Content) == 0 {
			rest = nil
		}
	}
	bc, err = bayes.ParseConfig(rest, dataDir)
	if err != nil && c.File != "" {
		err = &FileError{File: c.File, Err: err}
	}
	return bc, enabled, err
}
