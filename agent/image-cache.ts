// What each image reference names, asked of the engine once. Thirty replicas of one image would
// otherwise make thirty identical inspect calls while the engine is busiest creating their
// containers. Any image event (pull, tag, untag, delete, load) may change what a reference names,
// so the agent forgets everything on one; they are rare next to pod starts.
import type { ContainerRuntime, ImageInfo } from './runtime/types.ts';

export class ImageCache {
  /** Present images only: an absent one is about to be pulled, and must be asked about again. */
  private readonly byRef = new Map<string, Promise<ImageInfo | undefined>>();

  constructor(private readonly runtime: Pick<ContainerRuntime, 'inspectImage'>) {}

  inspect(ref: string): Promise<ImageInfo | undefined> {
    let found = this.byRef.get(ref);
    if (!found) {
      found = this.runtime.inspectImage(ref);
      this.byRef.set(ref, found);
      // Concurrent callers share the one call; a miss or a failure is not remembered.
      found.then((image) => { if (!image) this.forget(ref, found); }, () => this.forget(ref, found));
    }
    return found;
  }

  /** Forgets one reference (after pulling it), or everything (an image event). */
  clear(ref?: string): void {
    if (ref === undefined) this.byRef.clear();
    else this.byRef.delete(ref);
  }

  private forget(ref: string, entry: Promise<ImageInfo | undefined> | undefined): void {
    if (this.byRef.get(ref) === entry) this.byRef.delete(ref);
  }
}
