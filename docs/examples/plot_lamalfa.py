"""
La Malfa et al.: layers fluctuation by accuracy group
=====================================================

``deepcnt reproduce lamalfa`` at the smallest size: the strength fluctuation of low- and high-accuracy
networks differs (and how much of it the weights' scale explains). The findings table
says which finding shows at this size; see the reproduction page for the full-size numbers.
"""
import tempfile

import matplotlib.image as mpimg
import matplotlib.pyplot as plt

from deepcnt.bindings.reproduce import reproduce

result = reproduce("lamalfa", out=tempfile.mkdtemp(), size="tiny")
print(result)

# %%
# The figures the reproduction wrote:
for png in result.figures:
    image = mpimg.imread(png)
    height, width = image.shape[:2]
    fig, ax = plt.subplots(figsize=(10, 10 * height / width))
    ax.imshow(image)
    ax.set_axis_off()
