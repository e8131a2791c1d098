"""
Testolin et al.: a DBN trained by CD-1
======================================

``deepcnt reproduce testolin`` at the smallest size: the mean weight shifts negative and the visible units'
strengths turn negative. The findings table
says which finding shows at this size; see the reproduction page for the full-size numbers.
"""
import tempfile

import matplotlib.image as mpimg
import matplotlib.pyplot as plt

from deepcnt.bindings.reproduce import reproduce

result = reproduce("testolin", out=tempfile.mkdtemp(), size="tiny")
print(result)

# %%
# The figures the reproduction wrote:
for png in result.figures:
    image = mpimg.imread(png)
    height, width = image.shape[:2]
    fig, ax = plt.subplots(figsize=(10, 10 * height / width))
    ax.imshow(image)
    ax.set_axis_off()
