// Package dnsbl checks the connecting client's address against DNS
// blocklists and allowlists (RFC 5782): the address, reversed (IPv4 octets,
// IPv6 nibbles), is looked up under each list's zone; an answer in
// 127.0.0.0/8 means "listed", and its value says why. Each list maps its
// return codes (single values, ranges, or bit masks) to a symbol and an
// outcome; answers a list gives to refuse service (Spamhaus's
// 127.255.255.252/254/255, which mean "you query through a public resolver"
// or "your quota is spent") are errors, never hits, so that a refused query
// cannot score a message as spam.
//
// All lists of a message are asked at once through the shared resolver.
// Loopback, private and link-local clients and authenticated (SASL) clients
// are not looked up: no public list knows them, and submission from
// dynamic address space is what authentication is for.
package dnsbl
