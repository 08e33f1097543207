/**
 * A lexer for the SQL that comes back from the bucket (an archive's database entries, a stored
 * globals file), modelled on PostgreSQL's own (src/backend/parser/scan.l) and psql's
 * (src/fe_utils/psqlscan.l), for the part of the language this project accepts. It exists so
 * that such text is never cut or rewritten as lines: statements are split at the semicolons the
 * server would see, and each token is known exactly (where a string literal or a quoted
 * identifier begins and ends, and what it says), so that a statement can be checked to be of an
 * expected kind and a name in it replaced by position.
 *
 * What it does not need to understand it refuses, rather than guess: dollar-quoted strings,
 * bit strings, Unicode-escape forms (`U&'…'`), string continuation across lines, positional
 * parameters, NUL bytes, unterminated literals and comments. So a text it accepts is one whose
 * every token boundary agrees with the server's.
 *
 * Input is a "binary string": one JavaScript character per byte (`buffer.toString('latin1')`),
 * so that token offsets are byte offsets and the bytes pass through unchanged. Every server
 * encoding is ASCII-safe (no byte of a multibyte character is below 0x80), so lexing by byte is
 * exact for them; the caller must not use it for client-only encodings (SJIS, BIG5, GBK…).
 */

/** The kinds of token. Whitespace and comments are skipped (they are kept in statement text). */
export type TokenKind =
  /** An unquoted identifier or keyword; `value` is folded to lower case (ASCII letters, as the server does for multibyte encodings). */
  | 'word'
  /** A double-quoted identifier; `value` has `""` undone. */
  | 'quoted'
  /** A string literal, `'…'` or `E'…'`; `value` is its content with escapes undone. */
  | 'string'
  | 'number'
  /** Punctuation or an operator: `,` `;` `(` `)` `.` `=`, or a run of operator characters. */
  | 'symbol'
  /** psql only: a backslash command, from the backslash to the end of its line. */
  | 'meta';

export interface Token {
  readonly kind: TokenKind;
  /** Offset of the first byte. */
  readonly start: number;
  /** Offset after the last byte. */
  readonly end: number;
  /** The token's text as written. */
  readonly text: string;
  /** For words (folded), quoted identifiers and strings (unescaped): what the token means. */
  readonly value: string;
}

export interface LexOptions {
  /**
   * standard_conforming_strings: with it on (the default since PostgreSQL 9.1, and what pg_dump
   * records in an archive's STDSTRINGS entry), a backslash in `'…'` is an ordinary character;
   * off, it escapes the next one, as in `E'…'`.
   */
  readonly standardConformingStrings: boolean;
  /**
   * Lex as psql reads a script: a backslash outside literals and comments starts a meta-command
   * (returned as a `meta` token), and a psql variable reference (`:name`, `:'name'`,
   * `:"name"`) is refused. Otherwise, as the server reads a query.
   */
  readonly psql?: boolean;
}

/** Text this lexer refuses; `offset` is where, in bytes. */
export class SqlLexError extends Error {
  constructor(
    message: string,
    public readonly offset: number,
  ) {
    super(`${message} (at byte ${offset})`);
    this.name = 'SqlLexError';
  }
}

/** A statement: its tokens (the final `;` excluded) and its exact text. */
export interface Statement {
  readonly tokens: readonly Token[];
  /** The source from the first token to the last, comments and whitespace inside included. */
  readonly text: string;
  readonly start: number;
  readonly end: number;
}

const SPACE = /[ \t\n\r\f\v]/;
const IDENT_START = /[A-Za-z_\x80-\xff]/;
const IDENT_CONT = /[A-Za-z_0-9$\x80-\xff]/;
const OP_CHARS = '~!@#^&|`?+-*/%<>=';
const NUMBER =
  /^(?:0[xX][0-9A-Fa-f_]+|0[oO][0-7_]+|0[bB][01_]+|(?:[0-9][0-9_]*(?:\.(?![.])[0-9_]*)?|\.[0-9][0-9_]*)(?:[eE][-+]?[0-9][0-9_]*)?)/;

/** Splits `source` into tokens; throws {@link SqlLexError} for anything it does not accept. */
export function lexSql(source: string, options: LexOptions): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const token = (kind: TokenKind, start: number, end: number, value = source.slice(start, end)) =>
    tokens.push({ kind, start, end, text: source.slice(start, end), value });
  while (i < source.length) {
    const c = source[i];
    const next = source[i + 1];
    if (c === '\0') throw new SqlLexError('NUL byte', i);
    if (SPACE.test(c)) {
      i++;
    } else if (c === '-' && next === '-') {
      while (i < source.length && source[i] !== '\n' && source[i] !== '\r') i++;
    } else if (c === '/' && next === '*') {
      i = skipBlockComment(source, i);
    } else if (c === "'") {
      i = lexString(source, i, i + 1, !options.standardConformingStrings, tokens);
    } else if ((c === 'e' || c === 'E') && next === "'") {
      i = lexString(source, i, i + 2, true, tokens);
    } else if ((c === 'n' || c === 'N') && next === "'") {
      i = lexString(source, i, i + 2, !options.standardConformingStrings, tokens);
    } else if (/[bBxXuU]/.test(c) && (next === "'" || (next === '&' && /['"]/.test(source[i + 2] ?? '')))) {
      throw new SqlLexError(`unsupported literal form ${c}${next}`, i);
    } else if (c === '"') {
      const end = lexQuoted(source, i);
      token('quoted', i, end, source.slice(i + 1, end - 1).replace(/""/g, '"'));
      i = end;
    } else if (IDENT_START.test(c)) {
      let end = i + 1;
      while (end < source.length && IDENT_CONT.test(source[end])) end++;
      token(
        'word',
        i,
        end,
        source.slice(i, end).replace(/[A-Z]+/g, (s) => s.toLowerCase()),
      );
      i = end;
    } else if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(next ?? ''))) {
      const m = NUMBER.exec(source.slice(i, i + 256))!;
      const end = i + m[0].length;
      if (end < source.length && IDENT_CONT.test(source[end])) throw new SqlLexError('trailing junk after a number', end);
      token('number', i, end);
      i = end;
    } else if (c === '$') {
      throw new SqlLexError(/[0-9]/.test(next ?? '') ? 'positional parameter' : 'dollar-quoted string', i);
    } else if (c === '\\') {
      if (!options.psql) throw new SqlLexError('backslash outside a literal', i);
      let end = i;
      while (end < source.length && source[end] !== '\n') end++;
      token('meta', i, end);
      i = end;
    } else if (c === ':' && options.psql && /[A-Za-z_'"{]/.test(next ?? '') && !followsColon(tokens, i)) {
      throw new SqlLexError('psql variable reference', i);
    } else if (OP_CHARS.includes(c)) {
      let end = i + 1;
      while (end < source.length && OP_CHARS.includes(source[end]) && !isCommentStart(source, end)) end++;
      token('symbol', i, end);
      i = end;
    } else {
      token('symbol', i, i + 1);
      i++;
    }
  }
  return tokens;
}

/** Whether the `:` at `i` is the second of `::` (a type cast, which psql does not take for a variable). */
function followsColon(tokens: readonly Token[], i: number): boolean {
  const last = tokens.at(-1);
  return last !== undefined && last.end === i && last.text === ':';
}

function isCommentStart(source: string, at: number): boolean {
  return (source[at] === '-' && source[at + 1] === '-') || (source[at] === '/' && source[at + 1] === '*');
}

/** Skips a (nested) block comment starting at `start`; returns the offset after it. */
function skipBlockComment(source: string, start: number): number {
  let depth = 0;
  let i = start;
  while (i < source.length) {
    if (source[i] === '/' && source[i + 1] === '*') {
      depth++;
      i += 2;
    } else if (source[i] === '*' && source[i + 1] === '/') {
      depth--;
      i += 2;
      if (depth === 0) return i;
    } else {
      if (source[i] === '\0') throw new SqlLexError('NUL byte', i);
      i++;
    }
  }
  throw new SqlLexError('unterminated /* comment', start);
}

/** Lexes a double-quoted identifier at `start`; returns the offset after its closing quote. */
function lexQuoted(source: string, start: number): number {
  let i = start + 1;
  for (;;) {
    const q = source.indexOf('"', i);
    if (q < 0) throw new SqlLexError('unterminated quoted identifier', start);
    const nul = source.indexOf('\0', i);
    if (nul >= 0 && nul < q) throw new SqlLexError('NUL byte', nul);
    if (source[q + 1] === '"') {
      i = q + 2;
      continue;
    }
    if (q === start + 1) throw new SqlLexError('zero-length quoted identifier', start);
    return q + 1;
  }
}

/**
 * Lexes a string literal whose content starts at `from` (after `'`, `E'` or `N'`), with
 * backslash escapes when `escapes`. Appends the token; returns the offset after it. A literal
 * continued on a later line (`'a'` newline `'b'`, one literal to the server) is refused.
 */
function lexString(source: string, start: number, from: number, escapes: boolean, tokens: Token[]): number {
  let value = '';
  let i = from;
  for (;;) {
    if (i >= source.length) throw new SqlLexError('unterminated string literal', start);
    const c = source[i];
    if (c === '\0') throw new SqlLexError('NUL byte', i);
    if (c === "'") {
      if (source[i + 1] === "'") {
        value += "'";
        i += 2;
        continue;
      }
      i++;
      break;
    }
    if (c === '\\' && escapes) {
      const [text, used] = unescape(source, i);
      value += text;
      i += used;
      continue;
    }
    value += c;
    i++;
  }
  if (continuesOnNextLine(source, i)) throw new SqlLexError('string literal continued on another line', i);
  tokens.push({ kind: 'string', start, end: i, text: source.slice(start, i), value });
  return i;
}

/**
 * Whether a literal that ended at `i` goes on (scan.l's quotecontinue): whitespace holding a
 * newline, possibly `--` comments on their own lines, then another quote.
 */
function continuesOnNextLine(source: string, i: number): boolean {
  let at = i;
  while (/[ \t\f\v]/.test(source[at] ?? '')) at++;
  if (!/[\n\r]/.test(source[at] ?? '')) return false;
  for (;;) {
    while (SPACE.test(source[at] ?? '')) at++;
    if (source[at] === '-' && source[at + 1] === '-') {
      while (at < source.length && !/[\n\r]/.test(source[at])) at++;
      continue;
    }
    return source[at] === "'";
  }
}

/** One backslash escape of an E string at `at`: the bytes it stands for, and how many characters it takes. */
function unescape(source: string, at: number): [string, number] {
  const c = source[at + 1];
  if (c === undefined) throw new SqlLexError('unterminated string literal', at);
  if (c === '\0') throw new SqlLexError('NUL byte', at + 1);
  const simple: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
  if (simple[c] !== undefined) return [simple[c], 2];
  const octal = /^[0-7]{1,3}/.exec(source.slice(at + 1, at + 4));
  if (octal) return [String.fromCharCode(parseInt(octal[0], 8) & 0xff), 1 + octal[0].length];
  const hex = /^x([0-9A-Fa-f]{1,2})/.exec(source.slice(at + 1, at + 4));
  if (hex) return [String.fromCharCode(parseInt(hex[1], 16)), 2 + hex[1].length];
  if (c === 'u' || c === 'U') throw new SqlLexError('Unicode escape in a string literal', at);
  return [c, 2];
}

/**
 * Splits tokens into statements at the semicolons outside parentheses (as psql sends them),
 * each with its exact source text. Empty statements (`;;`) are dropped; text after the last
 * semicolon is a statement too.
 */
export function splitStatements(source: string, tokens: readonly Token[]): Statement[] {
  const out: Statement[] = [];
  let current: Token[] = [];
  let depth = 0;
  const flush = () => {
    if (current.length === 0) return;
    const start = current[0].start;
    const end = current[current.length - 1].end;
    out.push({ tokens: current, text: source.slice(start, end), start, end });
    current = [];
  };
  for (const t of tokens) {
    if (t.kind === 'symbol' && t.text === '(') depth++;
    if (t.kind === 'symbol' && t.text === ')') depth = Math.max(0, depth - 1);
    if (t.kind === 'symbol' && t.text === ';' && depth === 0) flush();
    else if (t.kind === 'meta') {
      flush();
      out.push({ tokens: [t], text: t.text, start: t.start, end: t.end });
    } else current.push(t);
  }
  flush();
  return out;
}

/** Quotes an identifier for SQL: always double-quoted, so that any name (a keyword, mixed case, `$`, a newline) stays exactly itself. */
export function quoteIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** A literal for SQL with standard_conforming_strings on: quotes doubled, nothing else escaped. */
export function quoteLiteral(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

/** A "binary string" (one character per byte, as this lexer reads) as the UTF-8 text it holds. */
export function utf8Of(binary: string): string {
  return Buffer.from(binary, 'latin1').toString('utf8');
}

/** Text as the "binary string" of its UTF-8 bytes. */
export function binaryOf(text: string): string {
  return Buffer.from(text, 'utf8').toString('latin1');
}
