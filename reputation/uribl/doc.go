// Package uribl finds the hosts a message refers to, for a URI blocklist
// check in the style of Spamhaus DBL and SURBL: those lists are queried with
// the domains and IP addresses of the links in a message body, not with its
// sender. This package is the pure part: Extract takes the decoded text of one
// MIME part (plain text or HTML) and returns the hosts to look up, in order of
// first appearance, each once. It does no DNS and knows no configuration.
//
// Spammers hide links from such checks, so Extract reads a host the way a
// browser or a mail client's linkifier would, not the way the text looks:
//
//   - URLs follow the WHATWG URL Standard's host parsing for the special
//     schemes http, https and ftp: any run of slashes and backslashes after
//     the scheme, userinfo up to the last "@" (http://paypal.com@evil.example/
//     goes to evil.example), percent-decoding of the host, ports, and the
//     IPv4 forms browsers accept (3221225985, 0xC0000201, 0300.0.2.1,
//     192.0.513), or [2001:db8::1]. An IPv4-mapped IPv6 address is returned
//     as IPv4, and a zone is dropped. Private and loopback addresses are
//     returned too. Tabs and newlines inside attribute URLs are removed, as
//     the standard says.
//   - Unicode host names are converted to their xn-- form with UTS #46
//     processing (RFC 5891 section 5 lookup) with the options the WHATWG
//     standard uses: non-transitional, no hyphen or STD3 checks, so that "_"
//     survives; a name that is already Punycode passes through lower-cased.
//   - Each word of text is normalised to NFKC (full-width letters and dots,
//     mathematical alphanumerics), zero-width characters and soft hyphens
//     are dropped, and the defanging conventions of threat reports are
//     undone: hxxp and h**p, [.] (.) {.} [dot] (dot), [:], and " dot "
//     between labels of something that is already a URL ("hxxp://example
//     dot com", "www dot example dot com"). A bracketed dot between two words
//     ("example [.] com") is always a dot; a plain "dot" in prose is not.
//   - Without a scheme, www.example.com is a link (Source "text"), and so
//     is a bare example.com (Source "bare") when its last label is an ICANN
//     top-level domain in the Public Suffix List and it is not itself a
//     public suffix; that keeps "file.txt", "e.g.", "1.2.3" and "co.jp" out.
//     File names whose extension is also a country or brand TLD (setup.zip,
//     readme.md, script.py) do come through. A capitalised last label
//     ("end.The") is taken for a missing space after a sentence, not for a
//     domain. Bare names are ASCII: CJK prose has no spaces to end a Unicode
//     name, so IDNs are found only after a scheme, in attributes and in
//     addresses. Bare IPv4 addresses count only when a "/" follows
//     ("192.0.2.1/login"); version numbers and addresses in prose do not.
//   - In text, a URL's host must have a dot or be an IP address
//     ("http://exa mple.com" is no link to "exa"); in HTML attributes any
//     host a browser accepts counts, "http://intranet/" included.
//   - Addresses: mailto: links give their domains (Source "mailto"), and so
//     do addresses in text (Source "email"), since domain blocklists list the
//     domains of reply-to and drop addresses too; rspamd, too, extracts
//     addresses apart from URLs. A checker may treat the two differently.
//   - A URL inside another URL's path or query (open redirectors:
//     http://r.example/?u=http://evil.example, also when percent-encoded as
//     http%3A%2F%2F) is found as well, with the outer URL's Source.
//
// HTML is read with the golang.org/x/net/html tokenizer, which decodes
// entities (&#x68;ttp://) as a browser does. Links come from href (any
// element: a, area, link, base, and xlink:href), src, background, poster,
// lowsrc, srcset and object data (Source "src"), form action and formaction
// (Source "form"), and the URL of a meta refresh (Source "href"). The visible
// text is scanned as plain text; text split by inline tags
// (exa<span></span>mple.com) is joined first, as it renders. Comments are
// tokenized once more, because Outlook's conditional comments
// (<!--[if mso]>) hold real links. Inside comments, script and style
// contents, style attributes and javascript: URLs only explicit URLs
// (scheme://) and mailto: count, never bare names: code is full of
// "element.style". URLs found in script and javascript: have Source "text"
// (they were found by reading code, not parsed from an attribute); those in
// CSS have Source "src". data:, cid:, tel: and other schemes carry no host
// to check, nor do relative URLs.
//
// Extract runs in time linear in its input, whatever the input: each byte is
// looked at a bounded number of times, host candidates longer than a DNS name
// can be are dropped before any costly step, and results stop at
// Options.MaxHosts. Memory is a small multiple of the input.
//
// Files: extract.go is the API and the result set; text.go splits text
// into words and cleans them; word.go finds URLs, names and addresses in a
// word; host.go turns a host as written into the name or address looked up;
// html.go walks HTML.
//
// Deciding what a listing means, and which hosts not to look up (own
// domains, private addresses), is the check's business, not this package's.
package uribl
