package config

import "github.com/mamori-mail/mamori/rules/check"

// Duration and ByteSize are the units every configuration section shares;
// rules/check defines them so that the check packages use the same ones.
type (
	Duration = check.Duration
	ByteSize = check.ByteSize
)
