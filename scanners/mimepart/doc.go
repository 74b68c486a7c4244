// Package mimepart walks a message's MIME structure once and hands every
// leaf part, decoded, to the content scanners (clamav, filetype).
//
// The walk follows multiparts and attached messages (message/rfc822,
// RFC 2046 §5.2.1), undoes the transfer encoding (base64, quoted-printable,
// uuencode; RFC 2045 §6), and names each part from Content-Disposition or
// Content-Type, decoding RFC 2231 parameters and the RFC 2047 words that
// many Japanese mailers put in quoted file names. It is lenient the way
// mail clients are, because a scanner that gives up where Outlook or
// Thunderbird carry on lets the payload through: a missing closing
// boundary, base64 with stray characters or an unparsable parameter still
// yield every part that a client would show, and an Anomaly that says what
// was broken. Limits on depth, part count and decoded bytes end in an
// Anomaly too, never in an error.
//
// Decoded parts stay in memory up to a threshold and spill to an unlinked
// temporary file beyond it, so a 50 MB attachment costs a file, not 50 MB
// of heap. Header parsing and multipart splitting are those of
// github.com/emersion/go-message; the transfer decoders are Mamori's own,
// because go-message's base64 reader stops at the first stray character
// (see TestGoMessageStrictBase64).
package mimepart
