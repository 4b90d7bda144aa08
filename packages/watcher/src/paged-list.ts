import type { KubernetesObject } from '@kubernetes/client-node';
import type { ListResult } from './supervised-informer.js';

/** Objects per list request: client-go's pager asks for 500, and kube-proxy's informers list that way. */
export const LIST_PAGE_SIZE = 500;

/** One page as client-node returns it: the items, and the token for the next page when there is one. */
export interface ListPage {
  readonly items: readonly KubernetesObject[];
  readonly metadata?: { readonly resourceVersion?: string; readonly _continue?: string };
}

/**
 * A list fetched in pages of LIST_PAGE_SIZE and joined. The API server serves every page from the first page's
 * snapshot, so the joined list is what one request would return, with its resourceVersion to watch from. One
 * request at 10k Services × 10 endpoints is tens of MB of JSON, held as text and parsed at once while client-node
 * deserializes it: the peak of a first sync. A page is 500 objects; `onPage` gets each as it arrives.
 */
export async function listInPages(fetchPage: (page: { limit: number; _continue?: string }) => Promise<ListPage>, onPage?: (items: readonly KubernetesObject[]) => void): Promise<ListResult> {
  const first = await fetchPage({ limit: LIST_PAGE_SIZE });
  onPage?.(first.items);
  const items = [...first.items];
  for (let next = first.metadata?._continue; next; ) {
    const page = await fetchPage({ limit: LIST_PAGE_SIZE, _continue: next });
    onPage?.(page.items);
    for (const item of page.items) items.push(item);
    next = page.metadata?._continue;
  }
  return { items, metadata: { resourceVersion: first.metadata?.resourceVersion } };
}
