/**
 * Caps concurrent SSH channels on one connection. OpenSSH allows 10 sessions per
 * connection (MaxSessions); past that the server answers "Channel open failure".
 */
export class ChannelLimit {
  private active = 0;
  private readonly waiting: Array<() => void> = [];
  constructor(readonly max: number) {}

  async acquire(): Promise<() => void> {
    if (this.active >= this.max) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.active++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next)
        next(); // hand the slot over without decrementing
      else this.active--;
    };
  }

  get inUse(): number {
    return this.active;
  }
}
