import { SqlLexError, Statement, Token, utf8Of } from './sql-lexer';

/**
 * A small matcher over one statement's tokens, for checking that a statement read back from the
 * bucket is exactly of an expected kind. Every method either consumes what it expects or throws
 * a {@link StatementMismatch}; `end()` insists that nothing follows.
 */
export class StatementMismatch extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StatementMismatch';
  }
}

/** Words that stand for a role set rather than a role (or for none), so never a role's plain name. */
const ROLE_SPECIFIERS = new Set([
  'all',
  'public',
  'current_user',
  'current_role',
  'session_user',
  'none',
  'default',
  'group',
  'user',
  'role',
]);

export class TokenCursor {
  private at = 0;

  constructor(public readonly statement: Statement) {}

  private get tokens(): readonly Token[] {
    return this.statement.tokens;
  }

  public peek(): Token | undefined {
    return this.tokens[this.at];
  }

  /** Whether the next token is the word `word` (keywords are case-insensitive, as the server reads them). */
  public isWord(word: string): boolean {
    const t = this.peek();
    return t?.kind === 'word' && t.value === word;
  }

  /** Consumes the word if it is next. */
  public optionalWord(word: string): boolean {
    if (!this.isWord(word)) return false;
    this.at++;
    return true;
  }

  public words(...words: string[]): void {
    for (const w of words) if (!this.optionalWord(w)) this.fail(w.toUpperCase());
  }

  /** Consumes one of the words and returns it. */
  public oneOf(...words: string[]): string {
    for (const w of words) if (this.optionalWord(w)) return w;
    return this.fail(words.map((w) => w.toUpperCase()).join(' or '));
  }

  public symbol(text: string): void {
    const t = this.peek();
    if (t?.kind !== 'symbol' || t.text !== text) this.fail(`'${text}'`);
    this.at++;
  }

  public optionalSymbol(text: string): boolean {
    const t = this.peek();
    if (t?.kind !== 'symbol' || t.text !== text) return false;
    this.at++;
    return true;
  }

  /** A name: an unquoted word (folded) or a quoted identifier. Returns the token. */
  public identifier(what = 'a name'): Token {
    const t = this.peek();
    if (t?.kind !== 'word' && t?.kind !== 'quoted') this.fail(what);
    this.at++;
    return t;
  }

  /** A role's own name: never a word that means a set of roles (ALL, PUBLIC, CURRENT_USER…). */
  public role(): Token {
    const t = this.identifier('a role name');
    if (t.kind === 'word' && ROLE_SPECIFIERS.has(t.value)) throw new StatementMismatch(`'${t.text}' where a role's own name belongs`);
    return t;
  }

  public string(): Token {
    const t = this.peek();
    if (t?.kind !== 'string') this.fail('a string literal');
    this.at++;
    return t;
  }

  public integer(): Token {
    const t = this.peek();
    if (t?.kind !== 'number' || !/^[0-9]+$/.test(t.text)) this.fail('a whole number');
    this.at++;
    return t;
  }

  /** A configuration parameter's name: names joined by dots (`work_mem`, `"myext.setting"`, `myext.setting`). */
  public parameter(): string {
    const parts = [this.identifier('a parameter name').value];
    while (this.optionalSymbol('.')) parts.push(this.identifier('a parameter name').value);
    return parts.join('.');
  }

  /** A parameter's value list, as SET takes it: literals, numbers or words, comma-separated. */
  public values(): void {
    do {
      this.optionalSymbol('-');
      const t = this.peek();
      if (!t || !['string', 'number', 'word', 'quoted'].includes(t.kind)) this.fail('a value');
      this.at++;
    } while (this.optionalSymbol(','));
  }

  public end(): void {
    const t = this.peek();
    if (t) throw new StatementMismatch(`'${t.text}' after the end of the statement`);
  }

  private fail(expected: string): never {
    const t = this.peek();
    throw new StatementMismatch(`${t ? `'${t.text}'` : 'the end of the statement'} where ${expected} belongs`);
  }
}

/** Describes a lexing or matching failure for a person: what was wrong, never more of the text than a short excerpt. */
export function describeRefusal(err: unknown, statement?: Statement): string {
  const text = statement ? utf8Of(statement.text) : '';
  const excerpt = statement ? `: ${JSON.stringify(text.length > 120 ? `${text.slice(0, 117)}...` : text)}` : '';
  if (err instanceof SqlLexError || err instanceof StatementMismatch) return `${err.message}${excerpt}`;
  throw err;
}
