/**
 * Terminal prompts. Only used when stdin and stderr are both terminals (`ctx.interactive`); commands
 * never prompt otherwise and say which flag to use instead. Prompts go to stderr so stdout stays data.
 * `secret` switches the terminal to raw mode and echoes nothing (not even asterisks).
 */
import { CLI_ERROR_CODES, UserError } from '../errors.js';

export interface Prompter {
  line(question: string): Promise<string>;
  secret(question: string): Promise<string>;
  confirm(question: string, defaultYes?: boolean): Promise<boolean>;
}

interface TtyIn extends NodeJS.ReadableStream {
  isTTY?: boolean;
  setRawMode?(mode: boolean): unknown;
}

const aborted = () =>
  new UserError(CLI_ERROR_CODES.INPUT, 'cancelled', undefined, { details: { cancelled: true } });

export class TerminalPrompter implements Prompter {
  constructor(
    private readonly input: TtyIn,
    private readonly output: NodeJS.WritableStream,
  ) {}

  private read(question: string, echo: boolean): Promise<string> {
    this.output.write(question);
    const raw = !echo && typeof this.input.setRawMode === 'function';
    if (raw) this.input.setRawMode!(true);
    this.input.resume();
    return new Promise((resolve, reject) => {
      let value = '';
      let escape = false;
      const done = (err?: Error) => {
        this.input.off('data', onData);
        this.input.off('end', onEnd);
        if (raw) this.input.setRawMode!(false);
        this.input.pause();
        if (!echo || err) this.output.write('\n');
        if (err) reject(err);
        else resolve(value);
      };
      const onEnd = () => done(value.length > 0 ? undefined : aborted());
      const onData = (chunk: Buffer | string) => {
        const text = typeof chunk === 'string' ? chunk : chunk.toString('utf8');
        for (const ch of text) {
          if (escape) {
            // Swallow the rest of an escape sequence (arrow keys...): letters and ~ end it.
            if (/[A-Za-z~]/.test(ch)) escape = false;
            continue;
          }
          if (ch === '\r' || ch === '\n') return done();
          if (ch === '\u0003' || (ch === '\u0004' && value.length === 0)) return done(aborted());
          if (ch === '\u007f' || ch === '\b') {
            value = [...value].slice(0, -1).join('');
            continue;
          }
          if (ch === '\u0015') {
            value = ''; // Ctrl-U
            continue;
          }
          if (ch === '\u001b') {
            escape = true;
            continue;
          }
          if (ch < ' ') continue;
          value += ch;
        }
      };
      this.input.on('data', onData);
      this.input.on('end', onEnd);
    });
  }

  async line(question: string): Promise<string> {
    return (await this.read(question, true)).trim();
  }

  secret(question: string): Promise<string> {
    return this.read(question, false);
  }

  async confirm(question: string, defaultYes = false): Promise<boolean> {
    const answer = (await this.line(`${question} ${defaultYes ? '[Y/n]' : '[y/N]'} `)).toLowerCase();
    if (answer === '') return defaultYes;
    return answer === 'y' || answer === 'yes';
  }
}

/** Used when not interactive: any prompt is a bug in the command (it must check first). */
export class NoPrompter implements Prompter {
  private fail(): never {
    throw new UserError(
      CLI_ERROR_CODES.INPUT,
      'vpnctl needs input but is not running in a terminal',
      'pass the value as an option (see --help)',
    );
  }
  line(): Promise<string> {
    this.fail();
  }
  secret(): Promise<string> {
    this.fail();
  }
  confirm(): Promise<boolean> {
    this.fail();
  }
}

/** Reads all of `input` (e.g. --password-stdin), without the one trailing newline. */
export async function readAll(input: NodeJS.ReadableStream, maxBytes = 64 * 1024): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of input) {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    size += b.length;
    if (size > maxBytes) {
      throw new UserError(
        CLI_ERROR_CODES.INPUT,
        `standard input is larger than ${maxBytes} bytes`,
        'pipe only the password',
      );
    }
    chunks.push(b);
  }
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}
