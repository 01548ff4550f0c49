/** Reading vega's SVG output in tests: axis tick labels, legend labels, every text. */

function texts(group: string): string[] {
  return [...group.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1].replace(/&amp;/g, '&').replace(/&lt;/g, '<').replace(/&gt;/g, '>'))
}

function groups(svg: string, role: string): string[] {
  return [...svg.matchAll(new RegExp(`<g class="mark-text ${role}"[^>]*>(.*?)</g>`, 'gs'))].map((m) => m[1])
}

/** Tick labels of each axis, in the order vega draws the axes. */
export function axisLabels(svg: string): string[][] {
  return groups(svg, 'role-axis-label').map(texts)
}

/** Axis titles. */
export function axisTitles(svg: string): string[] {
  return groups(svg, 'role-axis-title').flatMap(texts)
}

export function legendLabels(svg: string): string[] {
  return groups(svg, 'role-legend-label').flatMap(texts)
}

export function allText(svg: string): string[] {
  return texts(svg)
}
