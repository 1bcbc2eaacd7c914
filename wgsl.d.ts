// esbuild bundles WGSL files as text (loader '.wgsl': 'text').
declare module '*.wgsl' {
  const source: string;
  export default source;
}
