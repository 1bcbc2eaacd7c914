// The part of seek-bzip (which ships no types) that compression.ts uses.
declare module 'seek-bzip' {
  const Bunzip: {
    /** Decodes a whole bzip2 stream (checking its CRCs); `size`, when known, sizes the output buffer. */
    decode(input: Buffer, size?: number): Buffer;
  };
  export default Bunzip;
}
