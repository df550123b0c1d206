/** A managed image resolved to what booting a VM from it needs. */
export interface ResolvedImage {
  id: string;
  name: string;
}

/** imaged as vmd sees it. */
export interface ImageCatalog {
  resolve(ref: string): Promise<ResolvedImage>;
}
